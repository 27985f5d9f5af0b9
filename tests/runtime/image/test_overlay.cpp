#include "common/error.hpp"
#include "runtime/image/overlay.hpp"
#include "store_support.hpp"

#include <doctest/doctest.h>

#include <fstream>
#include <sys/sysmacros.h>

using namespace lcloud::test::image;
using lcloud::runtime::image::OverlayMount;
using lcloud::runtime::image::set_overlay_lowerdir_append;
namespace fs = std::filesystem;

namespace {

bool is_mount_point(const fs::path& path) {
    std::ifstream mountinfo("/proc/self/mountinfo");
    std::string line;
    const std::string field = " " + path.string() + " ";
    while (std::getline(mountinfo, line))
        if (line.find(field) != std::string::npos) return true;
    return false;
}

// Puts the mount API choice back whatever the test does.
struct LowerdirAppend {
    explicit LowerdirAppend(bool enabled) { set_overlay_lowerdir_append(enabled); }
    ~LowerdirAppend() { set_overlay_lowerdir_append(true); }
};

struct ContainerDirs {
    fs::path upper, work, merged;
    explicit ContainerDirs(const fs::path& base)
        : upper(base / "upper"), work(base / "work-dir"), merged(base / "merged") {
        for (const fs::path& dir : {upper, work, merged})
            fs::create_directories(dir);
    }
};

} // namespace

TEST_CASE("OverlayMount: an image's layers merge, whiteouts and opaque directories hold") {
    for (const bool append : {true, false}) {
        const std::string api_name = append ? "fsconfig lowerdir+" : "mount(2) with lowerdir=";
        INFO(api_name);
        const LowerdirAppend api(append);
        StoreSandbox box;
        const TestImage image = sample_image(Filter::zstd, Filter::gzip);
        box.store.import_archive(box.write("app.tar", docker_save_oci(image, {"app:1"})));
        const ContainerDirs dirs(box.temp.path() / "container");
        const fs::path base_layer = box.layer_dir(image.layers[0].diff_id);
        {
            OverlayMount mount({box.store.lower_dirs("app:1"), dirs.upper, dirs.work, dirs.merged});
            REQUIRE(is_mount_point(dirs.merged));
            const fs::path& root = dirs.merged;
            CHECK(read_file(root / "etc/b") == "base b");
            CHECK(read_file(root / "etc/c") == "top c");
            CHECK_FALSE(fs::exists(fs::symlink_status(root / "etc/a")));
            CHECK_FALSE(fs::exists(fs::symlink_status(root / "gone")));
            CHECK(listing(root / "var/cache") == "new\n");
            CHECK((lstat_of(root / "bin/app").st_mode & 07777) == 0755);

            // The container's changes land in its upper, never in a layer.
            write_file(root / "etc/added", "mine");
            fs::remove(root / "etc/b");
            CHECK(read_file(dirs.upper / "etc/added") == "mine");
            const struct stat whiteout = lstat_of(dirs.upper / "etc/b");
            CHECK(S_ISCHR(whiteout.st_mode));
            CHECK(whiteout.st_rdev == makedev(0, 0));
            CHECK(read_file(base_layer / "etc/b") == "base b");
            CHECK_FALSE(fs::exists(base_layer / "etc/added"));

            mount.unmount();
            CHECK_FALSE(is_mount_point(dirs.merged));
        }
        CHECK(listing(dirs.merged).empty());
    }
}

TEST_CASE("OverlayMount: leaving scope unmounts; bad layers are refused with their path") {
    StoreSandbox box;
    box.store.import_archive(box.write("app.tar", docker_save_legacy(sample_image(), {"a:1"})));
    const ContainerDirs dirs(box.temp.path() / "container");
    {
        const OverlayMount mount({box.store.lower_dirs("a:1"), dirs.upper, dirs.work, dirs.merged});
        CHECK(is_mount_point(dirs.merged));
        CHECK(read_file(dirs.merged / "etc/c") == "top c");
    }
    CHECK_FALSE(is_mount_point(dirs.merged));
    try {
        const OverlayMount mount(
            {{box.temp.path() / "no-such-layer"}, dirs.upper, dirs.work, dirs.merged});
        FAIL("mounted a missing layer");
    } catch (const lcloud::SystemError& error) {
        CHECK(std::string(error.what()).find("no-such-layer") != std::string::npos);
    }
    CHECK_FALSE(is_mount_point(dirs.merged));
}

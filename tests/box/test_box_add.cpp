// `box add` of a Vagrant libvirt box: a disk box, checked before it is taken in.
#include "box/box_add.hpp"
#include "box/errors.hpp"

#include "support/env_guard.hpp"
#include "support/run_command.hpp"
#include "support/temp_dir.hpp"

#include <doctest/doctest.h>
#include <fstream>

using namespace lcloud;
using namespace lcloud::test;
namespace fs = std::filesystem;

namespace {

fs::path make_box(const fs::path& dir, const std::string& metadata, bool qcow2 = true) {
    const auto content = dir / "content";
    fs::create_directories(content);
    std::ofstream(content / "metadata.json") << metadata;
    if (qcow2)
        REQUIRE(
            run_command("qemu-img create -q -f qcow2 " + (content / "box.img").string() + " 64M")
                .exit_code == 0);
    else
        std::ofstream(content / "box.img") << "raw bytes";
    std::ofstream(content / "Vagrantfile") << "# defaults\n";
    const auto file = dir / "test.box";
    REQUIRE(run_command("tar -C " + content.string() + " -czf " + file.string() +
                        " metadata.json box.img Vagrantfile")
                .exit_code == 0);
    return file;
}

} // namespace

TEST_CASE("box: a Vagrant libvirt box is added as a disk box") {
    TempDir data;
    TempDir work;
    EnvGuard xdg("XDG_DATA_HOME", data.path().string());
    const auto file =
        make_box(work.path(), R"({"provider":"libvirt","format":"qcow2","virtual_size":1})");
    const auto added = box::add_vagrant_box(file, "");
    CHECK(added.name == "test");
    CHECK(added.kind == box::BoxKind::disk);
    REQUIRE(added.file("disk"));
    CHECK(fs::exists(*added.file("disk")));
    CHECK_FALSE(added.file("kernel"));
    CHECK(added.manifest["vagrant_metadata"]["provider"] == "libvirt");
    CHECK_NOTHROW(box::verify_box(added));
    // Nothing of the staging is left beside the boxes.
    for (const auto& entry : fs::directory_iterator(box::boxes_root()))
        CHECK(entry.path().filename().string()[0] != '.');
}

TEST_CASE("box: a box that is not a libvirt qcow2 box is refused with the reason") {
    TempDir data;
    EnvGuard xdg("XDG_DATA_HOME", data.path().string());
    {
        TempDir work;
        const auto file = make_box(work.path(), R"({"provider":"virtualbox"})");
        CHECK_THROWS_WITH_AS(box::add_vagrant_box(file, "x"),
                             doctest::Contains("\"provider\": \"libvirt\""), box::BoxError);
    }
    {
        TempDir work;
        const auto file = make_box(work.path(), R"({"provider":"libvirt"})", false);
        CHECK_THROWS_WITH_AS(box::add_vagrant_box(file, "x"), doctest::Contains("not a qcow2 disk"),
                             box::BoxError);
    }
    {
        TempDir work;
        std::ofstream(work.path() / "junk.box") << "not a tar at all";
        CHECK_THROWS_AS(box::add_vagrant_box(work.path() / "junk.box", "x"), box::BoxError);
    }
    CHECK(box::list_boxes().empty());
}

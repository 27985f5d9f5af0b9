// The box store: install, list, find, verify and remove, in a private XDG_DATA_HOME.
#include "box/box_store.hpp"
#include "box/errors.hpp"
#include "state/atomic_file.hpp"

#include "support/env_guard.hpp"
#include "support/temp_dir.hpp"

#include <doctest/doctest.h>
#include <fstream>

using namespace lcloud;
using namespace lcloud::test;
namespace fs = std::filesystem;

namespace {

box::Box stage_box(const fs::path& work, const std::string& name, const std::string& version) {
    const auto staged = work / (name.substr(name.find('/') + 1) + version);
    fs::create_directories(staged);
    std::ofstream(staged / "vmlinux") << "kernel bytes";
    std::ofstream(staged / "initrd.cpio") << "initrd bytes";
    nlohmann::json manifest{{"name", name}, {"version", version}, {"kind", "initramfs"}};
    box::describe_files(manifest, staged, {{"kernel", "vmlinux"}, {"initrd", "initrd.cpio"}});
    state::write_file_atomic(staged / "manifest.json", manifest.dump());
    return box::install_box(staged, name, version);
}

} // namespace

TEST_CASE("box: installed boxes are listed, the newest version is found, and removal is clean") {
    TempDir data;
    TempDir work;
    EnvGuard xdg("XDG_DATA_HOME", data.path().string());
    CHECK(box::boxes_root() == data.path() / "lcloud" / "boxes");
    CHECK(box::list_boxes().empty());
    CHECK_FALSE(box::find_box("lcloud/base"));

    stage_box(work.path(), "lcloud/base", "20260101.000000");
    const auto newer = stage_box(work.path(), "lcloud/base", "20260202.000000");
    stage_box(work.path(), "other", "1");
    CHECK(box::list_boxes().size() == 3);
    const auto found = box::find_box("lcloud/base");
    REQUIRE(found);
    CHECK(found->version == "20260202.000000");
    CHECK(found->file("kernel") == newer.dir / "vmlinux");
    CHECK_FALSE(found->file("disk"));
    CHECK(found->checksum().starts_with("sha256:"));
    box::verify_box(*found);

    // A file that changed after the build is found out, by name.
    std::ofstream(newer.dir / "initrd.cpio", std::ios::app) << "tampered";
    CHECK_THROWS_WITH_AS(box::verify_box(*found), doctest::Contains("initrd.cpio is corrupt"),
                         box::BoxError);
    std::ofstream(newer.dir / "initrd.cpio", std::ios::trunc) << "initrd bytes";
    CHECK_NOTHROW(box::verify_box(*found));
    fs::remove(newer.dir / "vmlinux");
    CHECK_THROWS_WITH_AS(box::verify_box(*found), doctest::Contains("vmlinux is missing"),
                         box::BoxError);

    for (const auto& each : box::list_boxes())
        box::remove_box(each);
    CHECK(box::list_boxes().empty());
    CHECK(fs::is_empty(box::boxes_root()));
}

TEST_CASE("box: names are checked, and a broken manifest is reported with its path") {
    CHECK_NOTHROW(box::check_box_name("lcloud/base"));
    CHECK_NOTHROW(box::check_box_name("my-box_1.2"));
    for (const char* bad : {"", "../x", "a/b/c", "a b", "/abs", "a/"})
        CHECK_THROWS_AS(box::check_box_name(bad), box::BoxError);

    TempDir data;
    EnvGuard xdg("XDG_DATA_HOME", data.path().string());
    const auto dir = box::boxes_root() / "broken" / "1";
    fs::create_directories(dir);
    std::ofstream(dir / "manifest.json") << "{not json";
    CHECK_THROWS_WITH_AS(box::list_boxes(), doctest::Contains("broken/1/manifest.json"),
                         box::BoxError);
}

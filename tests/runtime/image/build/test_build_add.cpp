#include "build_support.hpp"
#include "support/run_command.hpp"

#include <doctest/doctest.h>

using namespace lcloud::test::image;
using lcloud::runtime::image::build::BuildError;
using lcloud::test::run_command;
namespace fs = std::filesystem;

TEST_CASE("image build: FROM scratch with ADD unpacks local archives; remote URLs are refused") {
    BuildSandbox box;
    Entry config = file("etc/conf", "setting=1\n", 0600);
    config.uid = 1000;
    config.gid = 1000;
    box.write("rootfs.tar.gz", make_tar({dir("bin"), file("bin/tool", "#!tool\n", 0755), dir("etc"),
                                         config, symlink_to("tool", "bin/tool")},
                                        Filter::gzip));
    box.write("data.tar.zst", make_tar({file("one.txt", "one\n")}, Filter::zstd));
    box.write("xz/three.txt", "three\n");
    const auto packed = run_command("tar -C '" + (box.context / "xz").string() + "' -cJf '" +
                                    (box.context / "data.tar.xz").string() + "' three.txt");
    REQUIRE_MESSAGE(packed.exit_code == 0, packed.output);
    box.write("notes.txt", "plain\n");
    const auto result = box.build("FROM scratch\nADD rootfs.tar.gz /\nADD data.tar.zst "
                                  "data.tar.xz /opt/\nADD notes.txt /docs/\n");
    INFO(box.output_text());
    CHECK(result.layers_created == 3);
    CHECK(result.containers_run == 0);
    const auto details = box.store.inspect("app:test");
    REQUIRE(details.layers.size() == 3);
    {
        const MountedImage image(box.store, "app:test");
        const fs::path root = image.root();
        CHECK(read_file(root / "bin/tool") == "#!tool\n");
        CHECK((lstat_or_throw(root / "bin/tool").st_mode & 07777) == 0755);
        const struct stat conf = lstat_or_throw(root / "etc/conf");
        CHECK(conf.st_uid == 1000); // an archive's owners are kept
        CHECK((conf.st_mode & 07777) == 0600);
        CHECK(fs::read_symlink(root / "tool") == "bin/tool");
        CHECK(read_file(root / "opt/one.txt") == "one\n");
        CHECK(read_file(root / "opt/three.txt") == "three\n");
        CHECK(read_file(root / "docs/notes.txt") == "plain\n");
        CHECK_FALSE(fs::exists(root / "rootfs.tar.gz"));
    }
    // COPY copies an archive as it is.
    box.build("FROM scratch\nCOPY data.tar.zst /\n", tagged("app:copy"));
    {
        const MountedImage image(box.store, "app:copy");
        CHECK(read_file(image.root() / "data.tar.zst") == read_file(box.context / "data.tar.zst"));
    }
    try {
        box.build("FROM scratch\nADD https://example.com/rootfs.tar.gz /\n");
        FAIL("a remote ADD was accepted");
    } catch (const BuildError& error) {
        const std::string message = error.what();
        CHECK(message.find("Containerfile:2: ") != std::string::npos);
        CHECK(message.find("remote URL") != std::string::npos);
    }
    CHECK(leftovers(box).empty());
}

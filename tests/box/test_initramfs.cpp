// The initramfs: a program copied with its libraries, and the tree packed as newc cpio.
#include "box/initramfs.hpp"

#include "support/run_command.hpp"
#include "support/temp_dir.hpp"

#include <doctest/doctest.h>
#include <fstream>

using namespace lcloud;
using namespace lcloud::test;
namespace fs = std::filesystem;

TEST_CASE("box: a program goes into the tree with every library it needs, and runs there") {
    TempDir dir;
    const auto root = dir.path() / "root";
    fs::create_directories(root / "bin");
    fs::create_symlink("/bin/busybox", root / "bin" / "true"); // an applet link to replace
    box::copy_program("/bin/true", root, "/bin/true");
    CHECK_FALSE(fs::is_symlink(root / "bin" / "true"));
    CHECK(fs::exists(root / "lib64" / "ld-linux-x86-64.so.2"));
    CHECK(fs::exists(root / "lib/x86_64-linux-gnu/libc.so.6"));
    // The copy runs in a root of its own: nothing of the host's is needed.
    CHECK(run_command("chroot " + root.string() + " /bin/true").exit_code == 0);
}

TEST_CASE("box: the tree is packed as a newc cpio owned by root, links kept") {
    TempDir dir;
    const auto root = dir.path() / "root";
    fs::create_directories(root / "etc");
    std::ofstream(root / "etc" / "hostname") << "box\n";
    std::ofstream(root / "init") << "#!/bin/sh\n";
    fs::permissions(root / "init", fs::perms::owner_all);
    fs::create_symlink("/bin/busybox", root / "sh");
    box::write_cpio(root, dir.path() / "initrd.cpio");
    const auto listing =
        run_command("cd " + dir.path().string() + " && cpio -itv --quiet < initrd.cpio");
    REQUIRE(listing.exit_code == 0);
    CHECK(listing.output.find("etc/hostname") != std::string::npos);
    CHECK(listing.output.find("sh -> /bin/busybox") != std::string::npos);
    CHECK(listing.output.find("rwx------   1 root     root") != std::string::npos);
    // Every name is inside the archive's root: nothing climbs out when it is unpacked.
    REQUIRE(listing.output.find("..") == std::string::npos);
    REQUIRE(listing.output.find(" /") == listing.output.find(" /bin/busybox"));
    const auto extracted = dir.path() / "out";
    fs::create_directories(extracted);
    REQUIRE(run_command("cd " + extracted.string() +
                        " && cpio -id --quiet --no-absolute-filenames < ../initrd.cpio")
                .exit_code == 0);
    std::ifstream hostname(extracted / "etc" / "hostname");
    std::string line;
    std::getline(hostname, line);
    CHECK(line == "box");
    CHECK(fs::read_symlink(extracted / "sh") == "/bin/busybox");
}

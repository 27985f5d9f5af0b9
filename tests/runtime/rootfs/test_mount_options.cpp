#include "runtime/rootfs/mounts.hpp"
#include "runtime/rootfs/safe_path.hpp"

#include <doctest/doctest.h>

#include <string>
#include <sys/mount.h>
#include <vector>

using lcloud::runtime::rootfs::MountOptions;
using lcloud::runtime::rootfs::parse_mount_options;
using lcloud::runtime::rootfs::RootfsError;

namespace {

struct Row {
    std::vector<std::string> options;
    unsigned long flags;
    unsigned long clear_flags;
    unsigned long propagation;
    std::string data;
    bool bind;
    bool recursive;
};

} // namespace

TEST_CASE("parse_mount_options: every option of the runtime spec") {
    const std::vector<Row> table{
        {{}, 0, 0, 0, "", false, false},
        {{"ro"}, MS_RDONLY, 0, 0, "", false, false},
        {{"rw"}, 0, MS_RDONLY, 0, "", false, false},
        {{"ro", "rw"}, 0, MS_RDONLY, 0, "", false, false},
        {{"rw", "ro"}, MS_RDONLY, 0, 0, "", false, false},
        {{"nosuid"}, MS_NOSUID, 0, 0, "", false, false},
        {{"suid"}, 0, MS_NOSUID, 0, "", false, false},
        {{"nodev"}, MS_NODEV, 0, 0, "", false, false},
        {{"dev"}, 0, MS_NODEV, 0, "", false, false},
        {{"noexec"}, MS_NOEXEC, 0, 0, "", false, false},
        {{"exec"}, 0, MS_NOEXEC, 0, "", false, false},
        {{"sync"}, MS_SYNCHRONOUS, 0, 0, "", false, false},
        {{"async"}, 0, MS_SYNCHRONOUS, 0, "", false, false},
        {{"dirsync"}, MS_DIRSYNC, 0, 0, "", false, false},
        {{"remount"}, MS_REMOUNT, 0, 0, "", false, false},
        {{"mand"}, MS_MANDLOCK, 0, 0, "", false, false},
        {{"nomand"}, 0, MS_MANDLOCK, 0, "", false, false},
        {{"atime"}, 0, MS_NOATIME, 0, "", false, false},
        {{"noatime"}, MS_NOATIME, 0, 0, "", false, false},
        {{"diratime"}, 0, MS_NODIRATIME, 0, "", false, false},
        {{"nodiratime"}, MS_NODIRATIME, 0, 0, "", false, false},
        {{"relatime"}, MS_RELATIME, 0, 0, "", false, false},
        {{"norelatime"}, 0, MS_RELATIME, 0, "", false, false},
        {{"strictatime"}, MS_STRICTATIME, 0, 0, "", false, false},
        {{"nostrictatime"}, 0, MS_STRICTATIME, 0, "", false, false},
        {{"nosymfollow"}, MS_NOSYMFOLLOW, 0, 0, "", false, false},
        {{"bind"}, MS_BIND, 0, 0, "", true, false},
        {{"rbind"}, MS_BIND | MS_REC, 0, 0, "", true, true},
        {{"rbind", "bind"}, MS_BIND | MS_REC, 0, 0, "", true, true},
        {{"private"}, 0, 0, MS_PRIVATE, "", false, false},
        {{"rprivate"}, 0, 0, MS_PRIVATE | MS_REC, "", false, false},
        {{"shared"}, 0, 0, MS_SHARED, "", false, false},
        {{"rshared"}, 0, 0, MS_SHARED | MS_REC, "", false, false},
        {{"slave"}, 0, 0, MS_SLAVE, "", false, false},
        {{"rslave"}, 0, 0, MS_SLAVE | MS_REC, "", false, false},
        {{"unbindable"}, 0, 0, MS_UNBINDABLE, "", false, false},
        {{"runbindable"}, 0, 0, MS_UNBINDABLE | MS_REC, "", false, false},
        {{"shared", "rslave"}, 0, 0, MS_SLAVE | MS_REC, "", false, false},
        {{"mode=755"}, 0, 0, 0, "mode=755", false, false},
        {{"nosuid", "mode=1777", "", "size=65536k", "nodev"},
         MS_NOSUID | MS_NODEV,
         0,
         0,
         "mode=1777,size=65536k",
         false,
         false},
        {{"nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"},
         MS_NOSUID | MS_NOEXEC,
         0,
         0,
         "newinstance,ptmxmode=0666,mode=0620,gid=5",
         false,
         false},
        {{"rbind", "ro", "rprivate", "nosuid", "nodev", "noexec"},
         MS_BIND | MS_REC | MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC,
         0,
         MS_PRIVATE | MS_REC,
         "",
         true,
         true},
    };
    for (const auto& row : table) {
        std::string joined;
        for (const auto& option : row.options)
            joined += "\"" + option + "\" ";
        INFO("options: " << joined);
        const MountOptions parsed = parse_mount_options(row.options);
        CHECK(parsed.flags == row.flags);
        CHECK(parsed.clear_flags == row.clear_flags);
        CHECK(parsed.propagation == row.propagation);
        CHECK(parsed.data == row.data);
        CHECK(parsed.bind == row.bind);
        CHECK(parsed.recursive == row.recursive);
    }
}

TEST_CASE("parse_mount_options refuses the spec's options it does not implement, by name") {
    for (const char* option : {"rro", "rnosuid", "tmpcopyup", "idmap", "ridmap"}) {
        INFO(option);
        try {
            parse_mount_options({"nosuid", option});
            FAIL("expected RootfsError");
        } catch (const RootfsError& error) {
            CHECK(std::string(error.what()).find(std::string("\"") + option + "\"") !=
                  std::string::npos);
        }
    }
}

TEST_CASE("clean_path is lexical, absolute, and never climbs above /") {
    using lcloud::runtime::rootfs::clean_path;
    CHECK(clean_path("") == "/");
    CHECK(clean_path("/") == "/");
    CHECK(clean_path("dev") == "/dev");
    CHECK(clean_path("/dev/") == "/dev");
    CHECK(clean_path("//a/./b//c/") == "/a/b/c");
    CHECK(clean_path("/a/../b") == "/b");
    CHECK(clean_path("/../../../etc") == "/etc");
    CHECK(clean_path("a/b/../../../..") == "/");
}

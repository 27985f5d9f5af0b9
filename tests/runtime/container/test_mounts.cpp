// config.json mounts, maskedPaths and readonlyPaths, seen from inside containers of
// lcloud-runtime and crun.
#include "runtime/container/config_support.hpp"

#include <doctest/doctest.h>
#include <fstream>
#include <linux/capability.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>

using namespace lcloud::test;
using namespace lcloud::test::features;
namespace fs = std::filesystem;

namespace {

// The mountinfo line of `mount_point` in a mountinfo text.
std::string mountinfo_line(const std::string& mountinfo, const std::string& mount_point) {
    std::istringstream in(mountinfo);
    std::string found = "(no mount at " + mount_point + ")";
    for (std::string line; std::getline(in, line);) {
        std::istringstream fields(line);
        std::string id, parent, device, root, point;
        fields >> id >> parent >> device >> root >> point;
        if (point == mount_point) found = line; // the last one is on top
    }
    return found;
}

// The mount's own options (field 6) and its optional fields (before " - ").
std::pair<std::string, std::string> mount_options(const std::string& line) {
    std::istringstream fields(line.substr(0, line.find(" - ")));
    std::string skip, options, optional, field;
    for (int i = 0; i < 5; ++i)
        fields >> skip;
    fields >> options;
    while (fields >> field)
        optional += (optional.empty() ? "" : " ") + field;
    return {options, optional};
}

bool has_option(const std::string& options, const std::string& option) {
    return ("," + options + ",").find("," + option + ",") != std::string::npos;
}

} // namespace

TEST_CASE("config mounts: tmpfs with size and mode") {
    for (const auto& [name, binary] : runtimes_to_compare()) {
        CAPTURE(name);
        RuntimeUnderTest runtime(name, binary);
        BusyboxBundle bundle;
        bundle.config["mounts"].push_back({{"destination", "/scratch"},
                                           {"type", "tmpfs"},
                                           {"source", "tmpfs"},
                                           {"options", {"nosuid", "size=1m", "mode=1733"}}});
        bundle.set_args({"sh", "-c",
                         "stat -c %a /scratch; dd if=/dev/zero of=/scratch/big bs=1024 "
                         "count=2048 2>/dev/null; echo dd=$?; cat /proc/self/mountinfo"});
        const auto result = runtime.run_bundle(bundle, cid("tmpfs"), true);
        REQUIRE_MESSAGE(result.exit_code == 0, result.output);
        CHECK(result.output.starts_with("1733\ndd=1\n"));
        const std::string line = mountinfo_line(result.output, "/scratch");
        CAPTURE(line);
        CHECK(line.find(" - tmpfs ") != std::string::npos);
        CHECK(line.find("size=1024k") != std::string::npos);
        CHECK(line.find("mode=1733") != std::string::npos);
        CHECK(has_option(mount_options(line).first, "nosuid"));
    }
}

TEST_CASE("config mounts: bind with ro, nosuid, nodev, noexec, against a plain bind") {
    for (const auto& [name, binary] : runtimes_to_compare()) {
        CAPTURE(name);
        RuntimeUnderTest runtime(name, binary);
        BusyboxBundle bundle;
        TempDir host;
        std::ofstream(host.path() / "hello") << "hello from the host\n";
        fs::copy_file("/bin/busybox", host.path() / "busybox");
        REQUIRE(::mknod((host.path() / "null").c_str(), S_IFCHR | 0666, makedev(1, 3)) == 0);
        bundle.config["mounts"].push_back(bind_mount(host.path().string(), "/locked",
                                                     {"bind", "ro", "nosuid", "nodev", "noexec"}));
        bundle.config["mounts"].push_back(bind_mount(host.path().string(), "/open", {"bind"}));
        bundle.set_args(
            {"sh", "-c",
             "exec 2>&1; cat /locked/hello; touch /locked/new; echo touch=$?; "
             "/locked/busybox true 2>/dev/null; echo exec-locked=$?; "
             "/open/busybox true; echo exec-open=$?; "
             "true < /locked/null; echo dev-locked=$?; true < /open/null; echo dev-open=$?; "
             "touch /open/from-container; echo touch-open=$?; cat /proc/self/mountinfo"});
        const auto result = runtime.run_bundle(bundle, cid("binds"), true);
        REQUIRE_MESSAGE(result.exit_code == 0, result.output);
        CHECK(result.output.starts_with(
            "hello from the host\ntouch: /locked/new: Read-only file system\ntouch=1\n"
            "exec-locked=126\nexec-open=0\nsh: can't open /locked/null: Permission denied\n"
            "dev-locked=1\ndev-open=0\ntouch-open=0\n"));
        CHECK(fs::exists(host.path() / "from-container"));
        CHECK_FALSE(fs::exists(host.path() / "new"));
        const auto [locked, locked_optional] =
            mount_options(mountinfo_line(result.output, "/locked"));
        CAPTURE(locked);
        for (const char* option : {"ro", "nosuid", "nodev", "noexec"})
            CHECK(has_option(locked, option));
        const auto [open, open_optional] = mount_options(mountinfo_line(result.output, "/open"));
        CAPTURE(open);
        for (const char* option : {"ro", "nosuid", "nodev", "noexec"})
            CHECK_FALSE(has_option(open, option));
    }
}

TEST_CASE("config mounts: nosuid ignores file capabilities, a plain bind honours them") {
    for (const auto& [name, binary] : runtimes_to_compare()) {
        CAPTURE(name);
        RuntimeUnderTest runtime(name, binary);
        BusyboxBundle bundle;
        TempDir host;
        fs::permissions(host.path(), fs::perms(0755));
        // busybox drops a setuid bit's privileges itself, but keeps file capabilities:
        // CAP_NET_BIND_SERVICE (bit 10), permitted and effective.
        const fs::path cat = host.path() / "cat";
        fs::copy_file("/bin/busybox", cat);
        vfs_cap_data caps{};
        caps.magic_etc = VFS_CAP_REVISION_2 | VFS_CAP_FLAGS_EFFECTIVE;
        caps.data[0].permitted = 1U << 10;
        REQUIRE(::setxattr(cat.c_str(), "security.capability", &caps, sizeof caps, 0) == 0);
        bundle.config["mounts"].push_back(
            bind_mount(host.path().string(), "/nosuid", {"bind", "nosuid"}));
        bundle.config["mounts"].push_back(bind_mount(host.path().string(), "/suid", {"bind"}));
        bundle.config["process"]["user"] = {{"uid", 1000}, {"gid", 1000}};
        bundle.config["process"]["noNewPrivileges"] = false;
        bundle.set_args({"sh", "-c",
                         "/suid/cat /proc/self/status | grep CapEff; "
                         "/nosuid/cat /proc/self/status | grep CapEff"});
        const auto result = runtime.run_bundle(bundle, cid("nosuid"), true);
        CHECK_MESSAGE(result.exit_code == 0, result.output);
        CHECK(result.output == "CapEff:\t0000000000000400\nCapEff:\t0000000000000000\n");
    }
}

TEST_CASE("config mounts: rbind brings submounts, bind does not") {
    for (const auto& [name, binary] : runtimes_to_compare()) {
        CAPTURE(name);
        RuntimeUnderTest runtime(name, binary);
        BusyboxBundle bundle;
        TempDir host;
        HostMount sub(host.path() / "sub", "tmpfs", "size=64k");
        std::ofstream(host.path() / "sub/inner") << "inner\n";
        bundle.config["mounts"].push_back(bind_mount(host.path().string(), "/plain", {"bind"}));
        bundle.config["mounts"].push_back(bind_mount(host.path().string(), "/deep", {"rbind"}));
        bundle.set_args({"sh", "-c", "ls -A /plain/sub; echo plain; cat /deep/sub/inner"});
        const auto result = runtime.run_bundle(bundle, cid("rbind"), true);
        CHECK_MESSAGE(result.exit_code == 0, result.output);
        CHECK(result.output == "plain\ninner\n");
    }
}

TEST_CASE("config mounts: rslave receives the host's later mounts, rprivate does not") {
    for (const auto& [name, binary] : runtimes_to_compare()) {
        CAPTURE(name);
        RuntimeUnderTest runtime(name, binary);
        BusyboxBundle bundle;
        TempDir host;
        HostMount shared(host.path() / "shared", "tmpfs", "size=64k");
        REQUIRE(::mount(nullptr, shared.path().c_str(), nullptr, MS_SHARED, nullptr) == 0);
        fs::create_directory(shared.path() / "late");
        // runc's default; crun's is rprivate, which would cut every bind off the host.
        bundle.config["linux"]["rootfsPropagation"] = "rslave";
        bundle.config["mounts"].push_back(
            bind_mount(shared.path().string(), "/slave", {"rbind", "rslave"}));
        bundle.config["mounts"].push_back(
            bind_mount(shared.path().string(), "/private", {"rbind", "rprivate"}));
        bundle.set_args({"sleep", "100"});
        const auto run = run_detached(runtime, bundle, cid("propagation"));
        REQUIRE_MESSAGE(run.exit_code == 0, run.output);

        HostMount late(shared.path() / "late", "tmpfs", "size=64k");
        std::ofstream(late.path() / "file") << "late\n";
        const auto result =
            runtime.run("exec " + cid("propagation") +
                            " sh -c 'ls /slave/late; echo private:; ls /private/late; "
                            "cat /proc/self/mountinfo'",
                        true);
        CHECK_MESSAGE(result.exit_code == 0, result.output);
        CHECK(result.output.starts_with("file\nprivate:\n"));
        const auto [slave_options, slave_optional] =
            mount_options(mountinfo_line(result.output, "/slave"));
        const auto [private_options, private_optional] =
            mount_options(mountinfo_line(result.output, "/private"));
        CHECK(slave_optional.starts_with("master:"));
        CHECK(private_optional.empty());
        CHECK(runtime.run("delete --force " + cid("propagation")).exit_code == 0);
    }
}

TEST_CASE("config mounts: mqueue, a new devpts instance, the container's own cgroup") {
    for (const auto& [name, binary] : runtimes_to_compare()) {
        CAPTURE(name);
        RuntimeUnderTest runtime(name, binary);
        BusyboxBundle bundle;
        bundle.config["linux"]["resources"]["memory"] = {{"limit", 48 << 20}};
        bundle.config["linux"]["resources"]["pids"] = {{"limit", 77}};
        bundle.set_args({"sh", "-c",
                         "ls -A /dev/pts; readlink /dev/ptmx; "
                         "cat /sys/fs/cgroup/memory/memory.limit_in_bytes "
                         "/sys/fs/cgroup/pids/pids.max; cat /proc/self/mountinfo"});
        const auto result = runtime.run_bundle(bundle, cid("special"), true);
        REQUIRE_MESSAGE(result.exit_code == 0, result.output);
        // Only the new instance's ptmx: none of the host's terminals.
        CHECK(result.output.starts_with("ptmx\npts/ptmx\n50331648\n77\n"));
        CHECK(mountinfo_line(result.output, "/dev/mqueue").find(" - mqueue ") != std::string::npos);
        CHECK(mountinfo_line(result.output, "/dev/pts").find(" - devpts ") != std::string::npos);
    }
}

TEST_CASE("config mounts: a later mount on the same destination wins") {
    for (const auto& [name, binary] : runtimes_to_compare()) {
        CAPTURE(name);
        RuntimeUnderTest runtime(name, binary);
        TempDir first, second;
        std::ofstream(first.path() / "which") << "first\n";
        std::ofstream(second.path() / "which") << "second\n";
        for (const bool reversed : {false, true}) {
            CAPTURE(reversed);
            BusyboxBundle bundle;
            const auto& [under, over] =
                reversed ? std::pair{&second, &first} : std::pair{&first, &second};
            bundle.config["mounts"].push_back(
                bind_mount(under->path().string(), "/data", {"bind"}));
            bundle.config["mounts"].push_back(bind_mount(over->path().string(), "/data", {"bind"}));
            bundle.set_args({"cat", "/data/which"});
            const auto result = runtime.run_bundle(bundle, cid("order"), true);
            CHECK_MESSAGE(result.exit_code == 0, result.output);
            CHECK(result.output == (reversed ? "first\n" : "second\n"));
        }
    }
}

TEST_CASE("config paths: readonlyPaths refuse writes, maskedPaths hide files and directories") {
    for (const auto& [name, binary] : runtimes_to_compare()) {
        CAPTURE(name);
        RuntimeUnderTest runtime(name, binary);
        REQUIRE_FALSE(fs::is_empty("/sys/firmware"));
        REQUIRE(file_text("/proc/version").size() > 0);
        const char* script = "exec 2>&1; echo 1 > /proc/sys/kernel/shm_rmid_forced; echo write=$?; "
                             "ls -A /sys/firmware | wc -l; wc -c < /proc/version";
        BusyboxBundle bundle;
        bundle.config["linux"]["maskedPaths"].push_back("/proc/version");
        bundle.set_args({"sh", "-c", script});
        auto result = runtime.run_bundle(bundle, cid("hidden"), true);
        CHECK_MESSAGE(result.exit_code == 0, result.output);
        CHECK(result.output ==
              "sh: can't create /proc/sys/kernel/shm_rmid_forced: Read-only file system\n"
              "write=1\n0\n0\n");

        // Without the lists the same script writes and sees everything.
        bundle.config["linux"]["maskedPaths"] = nlohmann::json::array();
        bundle.config["linux"]["readonlyPaths"] = nlohmann::json::array();
        result = runtime.run_bundle(bundle, cid("shown"), true);
        CHECK_MESSAGE(result.exit_code == 0, result.output);
        CAPTURE(result.output);
        CHECK(result.output.starts_with("write=0\n"));
        CHECK_FALSE(result.output.starts_with("write=0\n0\n"));
        CHECK_FALSE(result.output.ends_with("\n0\n"));
    }
}

// What `lcloud-runtime spec` writes and lcloud's containers start from.
#include "runtime/oci/config_json.hpp"
#include "runtime/oci/config_parse.hpp"
#include "runtime/oci/defaults.hpp"

#include <algorithm>
#include <doctest/doctest.h>

using namespace lcloud::runtime::oci;
using Strings = std::vector<std::string>;

namespace {

bool contains(const Strings& list, const std::string& item) {
    return std::find(list.begin(), list.end(), item) != list.end();
}

} // namespace

TEST_CASE("default spec: process, root and hostname") {
    const Config spec = default_spec();
    CHECK(spec.oci_version == "1.0.2");
    CHECK(spec.root.path == "rootfs");
    CHECK(spec.root.readonly);
    CHECK(spec.hostname == "lcloud");
    REQUIRE(spec.process);
    const Process& process = *spec.process;
    CHECK_FALSE(process.terminal);
    CHECK(process.user.uid == 0);
    CHECK(process.user.gid == 0);
    CHECK(process.args == Strings{"sh"});
    CHECK(
        process.env ==
        Strings{"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "TERM=xterm"});
    CHECK(process.cwd == "/");
    CHECK(process.no_new_privileges);
    REQUIRE(process.rlimits.size() == 1);
    CHECK(process.rlimits[0].type == "RLIMIT_NOFILE");
    CHECK(process.rlimits[0].hard == 1024);
    CHECK(process.rlimits[0].soft == 1024);
}

TEST_CASE("default spec: Docker's capabilities, none inheritable or ambient") {
    const Config spec = default_spec();
    const auto& caps = spec.process->capabilities;
    REQUIRE(caps);
    const Strings docker = {
        "CAP_CHOWN",   "CAP_DAC_OVERRIDE", "CAP_FSETID",           "CAP_FOWNER",
        "CAP_MKNOD",   "CAP_NET_RAW",      "CAP_SETGID",           "CAP_SETUID",
        "CAP_SETFCAP", "CAP_SETPCAP",      "CAP_NET_BIND_SERVICE", "CAP_SYS_CHROOT",
        "CAP_KILL",    "CAP_AUDIT_WRITE"};
    CHECK(caps->bounding == docker);
    CHECK(caps->effective == docker);
    CHECK(caps->permitted == docker);
    CHECK(caps->inheritable.empty());
    CHECK(caps->ambient.empty());
    CHECK_FALSE(contains(caps->bounding, "CAP_SYS_ADMIN"));
}

TEST_CASE("default spec: runc's mounts, namespaces, masked and read-only paths") {
    const Config spec = default_spec();
    REQUIRE(spec.mounts.size() == 7);
    Strings destinations;
    for (const auto& mount : spec.mounts)
        destinations.push_back(mount.destination);
    CHECK(destinations == Strings{"/proc", "/dev", "/dev/pts", "/dev/shm", "/dev/mqueue", "/sys",
                                  "/sys/fs/cgroup"});
    CHECK(spec.mounts[2].type == "devpts");
    CHECK(spec.mounts[2].options ==
          Strings{"nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"});
    CHECK(spec.mounts[3].source == "shm");
    CHECK(spec.mounts[3].options ==
          Strings{"nosuid", "noexec", "nodev", "mode=1777", "size=65536k"});
    CHECK(spec.mounts[6].options == Strings{"nosuid", "noexec", "nodev", "relatime", "ro"});

    for (const auto type : {NamespaceType::pid, NamespaceType::network, NamespaceType::ipc,
                            NamespaceType::uts, NamespaceType::mount, NamespaceType::cgroup})
        CHECK(spec.linux.has_namespace(type));
    CHECK_FALSE(spec.linux.has_namespace(NamespaceType::user));
    CHECK(spec.linux.namespaces.size() == 6);

    CHECK(spec.linux.masked_paths == Strings{"/proc/acpi", "/proc/asound", "/proc/kcore",
                                             "/proc/keys", "/proc/latency_stats",
                                             "/proc/timer_list", "/proc/timer_stats",
                                             "/proc/sched_debug", "/sys/firmware", "/proc/scsi"});
    CHECK(spec.linux.readonly_paths ==
          Strings{"/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger"});

    REQUIRE(spec.linux.resources);
    REQUIRE(spec.linux.resources->devices.size() == 1);
    const DeviceRule& deny = spec.linux.resources->devices[0];
    CHECK_FALSE(deny.allow);
    CHECK(deny.type == "a");
    CHECK(deny.access == "rwm");
}

TEST_CASE("default spec: seccomp denies Docker's list, clone3 and namespace clones") {
    const Config spec = default_spec();
    const auto& seccomp = spec.linux.seccomp;
    REQUIRE(seccomp);
    CHECK(seccomp->default_action == "SCMP_ACT_ALLOW");
    CHECK(seccomp->architectures == Strings{"SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"});
    REQUIRE(seccomp->syscalls.size() == 2 + 7);

    const SeccompSyscall& blocked = seccomp->syscalls[0];
    CHECK(blocked.action == "SCMP_ACT_ERRNO");
    CHECK(blocked.errno_ret == 1u);
    CHECK(blocked.args.empty());
    CHECK(blocked.names.size() == 57);
    for (const char* name : {"mount", "umount2", "pivot_root", "unshare", "setns", "ptrace", "bpf",
                             "kexec_load", "init_module", "reboot", "keyctl", "userfaultfd",
                             "open_by_handle_at", "perf_event_open", "fsopen", "vm86old"})
        CHECK_MESSAGE(contains(blocked.names, name), name);
    CHECK_FALSE(contains(blocked.names, "clone"));

    CHECK(seccomp->syscalls[1].names == Strings{"clone3"});
    CHECK(seccomp->syscalls[1].action == "SCMP_ACT_ERRNO");
    CHECK(seccomp->syscalls[1].errno_ret == 38u); // ENOSYS: libc falls back to clone

    // One rule per namespace flag, together covering the mask 0x7E020000.
    uint64_t covered = 0;
    for (size_t i = 2; i < seccomp->syscalls.size(); ++i) {
        const SeccompSyscall& rule = seccomp->syscalls[i];
        CHECK(rule.names == Strings{"clone"});
        CHECK(rule.action == "SCMP_ACT_ERRNO");
        CHECK(rule.errno_ret == 1u);
        REQUIRE(rule.args.size() == 1);
        const SeccompArg& arg = rule.args[0];
        CHECK(arg.index == 0);
        CHECK(arg.op == "SCMP_CMP_MASKED_EQ");
        CHECK(arg.value == arg.value_two);         // matches when the flag is set
        CHECK((arg.value & (arg.value - 1)) == 0); // a single flag
        covered |= arg.value;
    }
    CHECK(covered == 0x7E020000);
}

TEST_CASE("default spec: to_json and parse_config give it back unchanged") {
    const auto json = to_json(default_spec());
    CHECK(json["ociVersion"] == "1.0.2");
    CHECK(json["process"]["terminal"] == false);
    CHECK(json["root"]["readonly"] == true);
    CHECK(json["linux"]["resources"]["devices"].dump() == R"([{"allow":false,"access":"rwm"}])");
    CHECK(json["linux"]["seccomp"]["syscalls"][2]["args"].dump() ==
          R"([{"index":0,"value":131072,"valueTwo":131072,"op":"SCMP_CMP_MASKED_EQ"}])");
    CHECK_FALSE(json["process"].contains("oomScoreAdj"));
    CHECK_FALSE(json["process"]["capabilities"].contains("inheritable"));

    const std::string text = json.dump(2);
    CHECK(to_json(parse_config(text)).dump(2) == text);
}

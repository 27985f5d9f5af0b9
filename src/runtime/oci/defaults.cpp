#include "runtime/oci/defaults.hpp"

#include <sched.h>

namespace lcloud::runtime::oci {

namespace {

// Docker's default capability set (moby's oci/caps/defaults.go).
std::vector<std::string> default_capabilities() {
    return {"CAP_CHOWN",   "CAP_DAC_OVERRIDE", "CAP_FSETID",           "CAP_FOWNER",
            "CAP_MKNOD",   "CAP_NET_RAW",      "CAP_SETGID",           "CAP_SETUID",
            "CAP_SETFCAP", "CAP_SETPCAP",      "CAP_NET_BIND_SERVICE", "CAP_SYS_CHROOT",
            "CAP_KILL",    "CAP_AUDIT_WRITE"};
}

Process default_process() {
    Process process;
    // runc and crun write terminal: true; we write false, so that `lcloud-runtime run` of the
    // default spec works without a tty (from scripts, tests and lcloud-agent).
    process.terminal = false;
    process.user = User{}; // 0:0
    process.args = {"sh"};
    process.env = {"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
                   "TERM=xterm"};
    process.cwd = "/";
    Capabilities caps;
    caps.bounding = default_capabilities();
    caps.effective = default_capabilities();
    caps.permitted = default_capabilities();
    process.capabilities = caps; // none inheritable, none ambient
    process.rlimits = {Rlimit{"RLIMIT_NOFILE", 1024, 1024}};
    process.no_new_privileges = true;
    return process;
}

// As `runc spec` writes them.
std::vector<Mount> default_mounts() {
    return {
        {"/proc", "proc", "proc", {}},
        {"/dev", "tmpfs", "tmpfs", {"nosuid", "strictatime", "mode=755", "size=65536k"}},
        {"/dev/pts",
         "devpts",
         "devpts",
         {"nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"}},
        {"/dev/shm", "tmpfs", "shm", {"nosuid", "noexec", "nodev", "mode=1777", "size=65536k"}},
        {"/dev/mqueue", "mqueue", "mqueue", {"nosuid", "noexec", "nodev"}},
        {"/sys", "sysfs", "sysfs", {"nosuid", "noexec", "nodev", "ro"}},
        {"/sys/fs/cgroup", "cgroup", "cgroup", {"nosuid", "noexec", "nodev", "relatime", "ro"}},
    };
}

// Docker's list of syscalls a container is refused: kernel modules, clocks, accounting, keyrings,
// tracing and other processes' memory, mounting and namespaces, NUMA policy, swap, reboot, and
// old or obsolete calls. Names an architecture does not have (vm86 on x86_64) are skipped when
// the filter is built, as runc and crun do.
std::vector<std::string> blocked_syscalls() {
    return {"acct",
            "add_key",
            "bpf",
            "clock_adjtime",
            "clock_settime",
            "create_module",
            "delete_module",
            "finit_module",
            "get_kernel_syms",
            "get_mempolicy",
            "init_module",
            "ioperm",
            "iopl",
            "kcmp",
            "kexec_file_load",
            "kexec_load",
            "keyctl",
            "lookup_dcookie",
            "mbind",
            "mount",
            "mount_setattr",
            "move_mount",
            "open_tree",
            "fsopen",
            "fsconfig",
            "fsmount",
            "fspick",
            "move_pages",
            "name_to_handle_at",
            "nfsservctl",
            "open_by_handle_at",
            "perf_event_open",
            "pivot_root",
            "process_vm_readv",
            "process_vm_writev",
            "ptrace",
            "query_module",
            "quotactl",
            "quotactl_fd",
            "reboot",
            "request_key",
            "set_mempolicy",
            "setns",
            "settimeofday",
            "stime",
            "swapon",
            "swapoff",
            "sysfs",
            "_sysctl",
            "umount",
            "umount2",
            "unshare",
            "uselib",
            "userfaultfd",
            "ustat",
            "vm86",
            "vm86old"};
}

constexpr uint32_t eperm = 1;
constexpr uint32_t enosys = 38;

// The namespace flags of clone(2). CLONE_NEWTIME is not among them: its bit is part of the exit
// signal for clone(), so only clone3 and unshare can ask for it, and both are refused.
constexpr uint64_t clone_namespace_flags[] = {CLONE_NEWNS,    CLONE_NEWUTS, CLONE_NEWIPC,
                                              CLONE_NEWUSER,  CLONE_NEWPID, CLONE_NEWNET,
                                              CLONE_NEWCGROUP};
static_assert((CLONE_NEWNS | CLONE_NEWUTS | CLONE_NEWIPC | CLONE_NEWUSER | CLONE_NEWPID |
               CLONE_NEWNET | CLONE_NEWCGROUP) == 0x7E020000);

Seccomp default_seccomp() {
    Seccomp seccomp;
    // Docker writes its profile as an allow list (default ERRNO, some 350 syscalls allowed). We
    // write the same intent as a deny list: everything is allowed except what Docker blocks.
    // Shorter to read and to load; a syscall newer than the list is allowed rather than refused.
    seccomp.default_action = "SCMP_ACT_ALLOW";
    seccomp.architectures = {"SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"};
    seccomp.syscalls.push_back({blocked_syscalls(), "SCMP_ACT_ERRNO", eperm, {}});

    // clone3 passes its flags in a struct that seccomp cannot read, so it cannot be filtered by
    // flag: refuse it with ENOSYS, so that glibc and musl fall back to clone, which can be.
    seccomp.syscalls.push_back({{"clone3"}, "SCMP_ACT_ERRNO", enosys, {}});

    // clone with any namespace flag is refused, as Docker does. The rule must match when
    // (flags & 0x7E020000) != 0, and libseccomp has no "masked not equal". Docker, whose default
    // is ERRNO, allows clone when (flags & mask) == 0 (SCMP_CMP_MASKED_EQ value=mask,
    // valueTwo=0). With a default of ALLOW we need the opposite, so there is one ERRNO rule per
    // flag, each matching when that flag is set: SCMP_CMP_MASKED_EQ value=flag valueTwo=flag on
    // argument 0 (the flags on x86; s390 swaps the first two arguments, but it is not in our
    // architectures). Conditions within one rule are ANDed, separate rules for one syscall are
    // ORed, so together they refuse clone when any flag is set.
    for (const uint64_t flag : clone_namespace_flags)
        seccomp.syscalls.push_back({{"clone"},
                                    "SCMP_ACT_ERRNO",
                                    eperm,
                                    {SeccompArg{0, flag, flag, "SCMP_CMP_MASKED_EQ"}}});
    return seccomp;
}

Linux default_linux() {
    Linux linux_config;
    // As runc: new namespaces of every kind but user (and time).
    for (const auto type : {NamespaceType::pid, NamespaceType::network, NamespaceType::ipc,
                            NamespaceType::uts, NamespaceType::mount, NamespaceType::cgroup})
        linux_config.namespaces.push_back(Namespace{type, ""});
    linux_config.masked_paths = {"/proc/acpi",        "/proc/asound",        "/proc/kcore",
                                 "/proc/keys",        "/proc/latency_stats", "/proc/timer_list",
                                 "/proc/timer_stats", "/proc/sched_debug",   "/sys/firmware",
                                 "/proc/scsi"};
    linux_config.readonly_paths = {"/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys",
                                   "/proc/sysrq-trigger"};
    // Deny every device; the runtime allows the standard ones (null, zero, full, tty, random,
    // urandom, ptmx, pts) on top of this, as runc does.
    Resources resources;
    resources.devices = {DeviceRule{false, "a", std::nullopt, std::nullopt, "rwm"}};
    linux_config.resources = resources;
    linux_config.seccomp = default_seccomp();
    return linux_config;
}

} // namespace

Config default_spec() {
    Config config;
    config.oci_version = "1.0.2";
    config.root = Root{"rootfs", true};
    config.process = default_process();
    config.hostname = "lcloud";
    config.mounts = default_mounts();
    config.linux = default_linux();
    return config;
}

} // namespace lcloud::runtime::oci

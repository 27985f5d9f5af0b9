#pragma once

// The OCI runtime spec's config.json, as far as lcloud-runtime acts on it. Unknown fields are
// ignored; fields absent from the file keep the defaults below.

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace lcloud::runtime::oci {

struct User {
    uint32_t uid = 0;
    uint32_t gid = 0;
    std::vector<uint32_t> additional_gids;
    std::optional<uint32_t> umask;
};

struct Capabilities {
    // Names as in the spec, "CAP_CHOWN".
    std::vector<std::string> bounding, effective, inheritable, permitted, ambient;
};

struct Rlimit {
    std::string type; // "RLIMIT_NOFILE"
    uint64_t hard = 0;
    uint64_t soft = 0;
};

struct ConsoleSize {
    unsigned height = 0;
    unsigned width = 0;
};

struct Process {
    bool terminal = false;
    std::optional<ConsoleSize> console_size;
    User user;
    std::vector<std::string> args;
    std::vector<std::string> env;
    std::string cwd = "/";
    std::optional<Capabilities> capabilities;
    std::vector<Rlimit> rlimits;
    bool no_new_privileges = false;
    std::optional<int> oom_score_adj;
    std::string apparmor_profile;
    std::string selinux_label;
};

struct Root {
    std::string path = "rootfs"; // relative to the bundle, or absolute
    bool readonly = false;
};

struct Mount {
    std::string destination;
    std::string type;
    std::string source;
    std::vector<std::string> options;
};

struct Hook {
    std::string path;
    std::vector<std::string> args;
    std::vector<std::string> env;
    std::optional<int> timeout_seconds;
};

struct Hooks {
    std::vector<Hook> prestart, create_runtime, create_container, start_container, poststart,
        poststop;
};

enum class NamespaceType { pid, network, mount, ipc, uts, user, cgroup, time };

// The spec's names: "pid", "network", "mount", "ipc", "uts", "user", "cgroup", "time".
std::string_view to_string(NamespaceType type);
std::optional<NamespaceType> namespace_type_from_string(std::string_view name);

struct Namespace {
    NamespaceType type = NamespaceType::mount;
    std::string path; // empty: create a new one; else join this one
};

struct IdMapping {
    uint32_t container_id = 0;
    uint32_t host_id = 0;
    uint32_t size = 0;
};

struct Device {
    std::string path;
    char type = 'c'; // c, b, u, p
    int64_t major = 0;
    int64_t minor = 0;
    std::optional<uint32_t> file_mode;
    std::optional<uint32_t> uid;
    std::optional<uint32_t> gid;
};

struct DeviceRule {
    bool allow = false;
    std::string type = "a";       // a, c, b
    std::optional<int64_t> major; // nullopt: any (*)
    std::optional<int64_t> minor;
    std::string access = "rwm";
};

struct MemoryResources {
    std::optional<int64_t> limit;
    std::optional<int64_t> reservation;
    std::optional<int64_t> swap; // memory + swap, as in the spec
    std::optional<int64_t> kernel;
    std::optional<uint64_t> swappiness;
    std::optional<bool> disable_oom_killer;
};

struct CpuResources {
    std::optional<uint64_t> shares;
    std::optional<int64_t> quota;
    std::optional<uint64_t> period;
    std::string cpus;
    std::string mems;
};

struct Resources {
    std::vector<DeviceRule> devices;
    std::optional<MemoryResources> memory;
    std::optional<CpuResources> cpu;
    std::optional<int64_t> pids_limit;
    std::optional<uint16_t> block_io_weight;
    std::map<std::string, std::string> unified; // cgroup v2 files
};

struct SeccompArg {
    unsigned index = 0;
    uint64_t value = 0;
    uint64_t value_two = 0;
    std::string op; // SCMP_CMP_EQ ...
};

struct SeccompSyscall {
    std::vector<std::string> names;
    std::string action; // SCMP_ACT_ALLOW, SCMP_ACT_ERRNO, ...
    std::optional<uint32_t> errno_ret;
    std::vector<SeccompArg> args;
};

struct Seccomp {
    std::string default_action = "SCMP_ACT_ALLOW";
    std::optional<uint32_t> default_errno_ret;
    std::vector<std::string> architectures; // SCMP_ARCH_X86_64 ...
    std::vector<std::string> flags;
    std::vector<SeccompSyscall> syscalls;
};

struct Linux {
    std::vector<Namespace> namespaces;
    std::vector<IdMapping> uid_mappings;
    std::vector<IdMapping> gid_mappings;
    std::vector<Device> devices;
    std::string cgroups_path;
    std::optional<Resources> resources;
    std::map<std::string, std::string> sysctl;
    std::vector<std::string> masked_paths;
    std::vector<std::string> readonly_paths;
    std::optional<Seccomp> seccomp;
    std::string rootfs_propagation; // "", private, rprivate, slave, rslave, shared, rshared
    std::string mount_label;

    bool has_namespace(NamespaceType type) const;
    const Namespace* find_namespace(NamespaceType type) const;
};

struct Config {
    std::string oci_version = "1.0.2";
    Root root;
    std::optional<Process> process;
    std::string hostname;
    std::string domainname;
    std::vector<Mount> mounts;
    Hooks hooks;
    std::map<std::string, std::string> annotations;
    Linux linux;
};

} // namespace lcloud::runtime::oci

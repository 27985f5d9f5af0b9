#include "runtime/oci/config_parse.hpp"

#include "common/fd.hpp"
#include "runtime/oci/json_reader.hpp"

#include <array>
#include <cerrno>
#include <cstring>
#include <fcntl.h>
#include <fmt/format.h>
#include <unistd.h>

namespace lcloud::runtime::oci {

namespace {

// The names the spec allows, for the fields where a wrong name would otherwise surface late (at
// create, or never).
constexpr std::array<std::string_view, 16> rlimit_types{
    "RLIMIT_AS",     "RLIMIT_CORE",   "RLIMIT_CPU",        "RLIMIT_DATA",
    "RLIMIT_FSIZE",  "RLIMIT_LOCKS",  "RLIMIT_MEMLOCK",    "RLIMIT_MSGQUEUE",
    "RLIMIT_NICE",   "RLIMIT_NOFILE", "RLIMIT_NPROC",      "RLIMIT_RSS",
    "RLIMIT_RTPRIO", "RLIMIT_RTTIME", "RLIMIT_SIGPENDING", "RLIMIT_STACK"};

constexpr std::array<std::string_view, 8> namespace_type_names{"pid", "network", "mount",  "ipc",
                                                               "uts", "user",    "cgroup", "time"};

constexpr std::array<std::string_view, 8> propagation_modes{
    "private", "rprivate", "slave", "rslave", "shared", "rshared", "unbindable", "runbindable"};

constexpr std::array<std::string_view, 9> seccomp_actions{
    "SCMP_ACT_KILL",  "SCMP_ACT_KILL_PROCESS", "SCMP_ACT_KILL_THREAD",
    "SCMP_ACT_TRAP",  "SCMP_ACT_ERRNO",        "SCMP_ACT_TRACE",
    "SCMP_ACT_ALLOW", "SCMP_ACT_LOG",          "SCMP_ACT_NOTIFY"};

constexpr std::array<std::string_view, 7> seccomp_operators{
    "SCMP_CMP_NE", "SCMP_CMP_LT", "SCMP_CMP_LE",       "SCMP_CMP_EQ",
    "SCMP_CMP_GE", "SCMP_CMP_GT", "SCMP_CMP_MASKED_EQ"};

constexpr std::array<std::string_view, 4> seccomp_flags{
    "SECCOMP_FILTER_FLAG_TSYNC", "SECCOMP_FILTER_FLAG_LOG", "SECCOMP_FILTER_FLAG_SPEC_ALLOW",
    "SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV"};

constexpr unsigned max_syscall_args = 6;
constexpr size_t host_name_max = 64; // HOST_NAME_MAX: sethostname refuses longer

// "KEY=value" with a non-empty key, as in environ.
std::vector<std::string> read_env(const JsonNode& node) {
    std::vector<std::string> env;
    for (const auto& element : node.elements()) {
        std::string entry = element.string();
        const auto equals = entry.find('=');
        if (equals == std::string::npos || equals == 0)
            element.fail("expected KEY=value, got " + describe(element.json()));
        env.push_back(std::move(entry));
    }
    return env;
}

// --- process -------------------------------------------------------------------------------

User read_user(const JsonNode& node) {
    node.expect_object();
    User user;
    if (auto uid = node.get("uid")) user.uid = uid->uint32();
    if (auto gid = node.get("gid")) user.gid = gid->uint32();
    if (auto umask = node.get("umask"))
        user.umask = static_cast<uint32_t>(umask->unsigned_integer(0777));
    if (auto gids = node.get("additionalGids"))
        for (const auto& gid : gids->elements())
            user.additional_gids.push_back(gid.uint32());
    return user;
}

std::vector<std::string> read_capability_list(const JsonNode& node) {
    std::vector<std::string> names;
    for (const auto& element : node.elements()) {
        std::string name = element.string();
        // Well-formed names the kernel may not know are left to the security code, which skips
        // them as runc does; what cannot be a capability name at all is refused here.
        const bool well_formed =
            name.starts_with("CAP_") && name.size() > 4 &&
            name.find_first_not_of("ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_") == std::string::npos;
        if (!well_formed)
            element.fail("expected a capability name such as \"CAP_CHOWN\", got " +
                         describe(element.json()));
        names.push_back(std::move(name));
    }
    return names;
}

Capabilities read_capabilities(const JsonNode& node) {
    node.expect_object();
    Capabilities caps;
    if (auto list = node.get("bounding")) caps.bounding = read_capability_list(*list);
    if (auto list = node.get("effective")) caps.effective = read_capability_list(*list);
    if (auto list = node.get("inheritable")) caps.inheritable = read_capability_list(*list);
    if (auto list = node.get("permitted")) caps.permitted = read_capability_list(*list);
    if (auto list = node.get("ambient")) caps.ambient = read_capability_list(*list);
    return caps;
}

std::vector<Rlimit> read_rlimits(const JsonNode& node) {
    std::vector<Rlimit> rlimits;
    std::map<std::string, std::string> first_at; // type -> path of its first entry
    for (const auto& element : node.elements()) {
        Rlimit rlimit;
        const JsonNode type = element.require("type", "a limit such as \"RLIMIT_NOFILE\"");
        rlimit.type = one_of(type, "rlimit type", rlimit_types);
        if (const auto [first, inserted] = first_at.emplace(rlimit.type, element.path()); !inserted)
            type.fail(fmt::format("{} is listed twice (first at {}); keep one", rlimit.type,
                                  first->second));
        rlimit.hard = element.require("hard", "a non-negative integer").unsigned_integer();
        rlimit.soft = element.require("soft", "a non-negative integer").unsigned_integer();
        if (rlimit.soft > rlimit.hard)
            element.fail(fmt::format("soft limit {} is above hard limit {}; setrlimit would "
                                     "refuse it",
                                     rlimit.soft, rlimit.hard));
        rlimits.push_back(std::move(rlimit));
    }
    return rlimits;
}

Process read_process(const JsonNode& node) {
    node.expect_object();
    Process process;
    if (auto terminal = node.get("terminal")) process.terminal = terminal->boolean();
    if (auto size = node.get("consoleSize")) {
        size->expect_object();
        process.console_size = ConsoleSize{
            static_cast<unsigned>(
                size->require("height", "a number of rows").unsigned_integer(UINT32_MAX)),
            static_cast<unsigned>(
                size->require("width", "a number of columns").unsigned_integer(UINT32_MAX))};
    }
    if (auto user = node.get("user")) process.user = read_user(*user);

    const JsonNode args = node.require("args", "the program and its arguments, such as [\"sh\"]");
    process.args = args.strings();
    if (process.args.empty()) args.fail("must not be empty");
    if (process.args[0].empty())
        args.elements()[0].fail("must not be empty; expected the program to run");

    if (auto env = node.get("env")) process.env = read_env(*env);
    process.cwd = node.require("cwd", "an absolute path such as \"/\"").absolute_path();
    if (auto caps = node.get("capabilities")) process.capabilities = read_capabilities(*caps);
    if (auto rlimits = node.get("rlimits")) process.rlimits = read_rlimits(*rlimits);
    if (auto nnp = node.get("noNewPrivileges")) process.no_new_privileges = nnp->boolean();
    if (auto score = node.get("oomScoreAdj"))
        process.oom_score_adj = static_cast<int>(score->integer(-1000, 1000));
    if (auto profile = node.get("apparmorProfile")) process.apparmor_profile = profile->string();
    if (auto label = node.get("selinuxLabel")) process.selinux_label = label->string();
    return process;
}

// --- root, mounts, hooks -------------------------------------------------------------------

Root read_root(const JsonNode& node) {
    node.expect_object();
    Root root;
    const JsonNode path =
        node.require("path", "the root filesystem's directory, such as \"rootfs\"");
    root.path = path.string();
    if (root.path.empty())
        path.fail("must not be empty; expected the root filesystem's directory, such as "
                  "\"rootfs\"");
    if (auto readonly = node.get("readonly")) root.readonly = readonly->boolean();
    return root;
}

std::vector<Mount> read_mounts(const JsonNode& node) {
    std::vector<Mount> mounts;
    for (const auto& element : node.elements()) {
        element.expect_object();
        Mount mount;
        mount.destination =
            element.require("destination", "an absolute path in the container, such as \"/data\"")
                .absolute_path();
        if (auto type = element.get("type")) mount.type = type->string();
        if (auto source = element.get("source")) mount.source = source->string();
        if (auto options = element.get("options")) mount.options = options->strings();
        mounts.push_back(std::move(mount));
    }
    return mounts;
}

std::vector<Hook> read_hook_list(const JsonNode& node) {
    std::vector<Hook> hooks;
    for (const auto& element : node.elements()) {
        element.expect_object();
        Hook hook;
        hook.path =
            element.require("path", "the absolute path of the program to run").absolute_path();
        if (auto args = element.get("args")) hook.args = args->strings();
        if (auto env = element.get("env")) hook.env = read_env(*env);
        if (auto timeout = element.get("timeout")) {
            const auto seconds =
                timeout->integer(std::numeric_limits<int>::min(), std::numeric_limits<int>::max());
            if (seconds <= 0)
                timeout->fail(fmt::format("must be a positive number of seconds, got {}", seconds));
            hook.timeout_seconds = static_cast<int>(seconds);
        }
        hooks.push_back(std::move(hook));
    }
    return hooks;
}

Hooks read_hooks(const JsonNode& node) {
    node.expect_object();
    Hooks hooks;
    const std::pair<std::string_view, std::vector<Hook>*> kinds[] = {
        {"prestart", &hooks.prestart},
        {"createRuntime", &hooks.create_runtime},
        {"createContainer", &hooks.create_container},
        {"startContainer", &hooks.start_container},
        {"poststart", &hooks.poststart},
        {"poststop", &hooks.poststop}};
    for (const auto& [key, list] : kinds)
        if (auto hook_list = node.get(key)) *list = read_hook_list(*hook_list);
    return hooks;
}

// --- linux ---------------------------------------------------------------------------------

std::vector<Namespace> read_namespaces(const JsonNode& node) {
    std::vector<Namespace> namespaces;
    std::map<NamespaceType, std::string> first_at;
    for (const auto& element : node.elements()) {
        element.expect_object();
        Namespace ns;
        const JsonNode type = element.require(
            "type",
            "one of " + join_names({namespace_type_names.begin(), namespace_type_names.end()}));
        ns.type = *namespace_type_from_string(one_of(type, "namespace type", namespace_type_names));
        if (const auto [first, inserted] = first_at.emplace(ns.type, element.path()); !inserted)
            type.fail(fmt::format("namespace type \"{}\" is listed twice (first at {}); keep one",
                                  to_string(ns.type), first->second));
        if (auto path = element.get("path")) ns.path = path->absolute_path();
        namespaces.push_back(std::move(ns));
    }
    return namespaces;
}

std::vector<IdMapping> read_id_mappings(const JsonNode& node) {
    std::vector<IdMapping> mappings;
    for (const auto& element : node.elements()) {
        element.expect_object();
        IdMapping mapping;
        mapping.container_id = element.require("containerID", "a non-negative integer").uint32();
        mapping.host_id = element.require("hostID", "a non-negative integer").uint32();
        const JsonNode size = element.require("size", "a number of ids greater than 0");
        mapping.size = size.uint32();
        if (mapping.size == 0) size.fail("must be greater than 0");
        mappings.push_back(mapping);
    }
    return mappings;
}

std::vector<Device> read_devices(const JsonNode& node) {
    constexpr std::array<std::string_view, 4> types{"c", "b", "u", "p"};
    std::vector<Device> devices;
    for (const auto& element : node.elements()) {
        element.expect_object();
        Device device;
        device.path = element
                          .require("path", "an absolute path in the container, such as "
                                           "\"/dev/fuse\"")
                          .absolute_path();
        device.type = one_of(element.require("type", "one of c, b, u, p"), "device type", types)[0];
        const std::string needs =
            fmt::format("a number; a {} device needs major and minor numbers", device.type);
        if (device.type == 'p') {
            if (auto major = element.get("major")) device.major = major->integer();
            if (auto minor = element.get("minor")) device.minor = minor->integer();
        } else {
            device.major = element.require("major", needs).integer();
            device.minor = element.require("minor", needs).integer();
        }
        if (auto mode = element.get("fileMode")) device.file_mode = mode->uint32();
        if (auto uid = element.get("uid")) device.uid = uid->uint32();
        if (auto gid = element.get("gid")) device.gid = gid->uint32();
        devices.push_back(std::move(device));
    }
    return devices;
}

std::vector<DeviceRule> read_device_rules(const JsonNode& node) {
    constexpr std::array<std::string_view, 3> types{"a", "c", "b"};
    std::vector<DeviceRule> rules;
    for (const auto& element : node.elements()) {
        element.expect_object();
        DeviceRule rule;
        rule.allow = element.require("allow", "true or false").boolean();
        if (auto type = element.get("type")) rule.type = one_of(*type, "device type", types);
        if (auto major = element.get("major")) rule.major = major->integer();
        if (auto minor = element.get("minor")) rule.minor = minor->integer();
        if (auto access = element.get("access")) {
            rule.access = access->string();
            const bool valid = !rule.access.empty() && rule.access.size() <= 3 &&
                               rule.access.find_first_not_of("rwm") == std::string::npos;
            if (!valid)
                access->fail("expected a combination of r, w and m, such as \"rwm\", got " +
                             describe(access->json()));
        }
        rules.push_back(std::move(rule));
    }
    return rules;
}

MemoryResources read_memory(const JsonNode& node) {
    node.expect_object();
    MemoryResources memory;
    if (auto value = node.get("limit")) memory.limit = value->integer();
    if (auto value = node.get("reservation")) memory.reservation = value->integer();
    if (auto value = node.get("swap")) memory.swap = value->integer();
    if (auto value = node.get("kernel")) memory.kernel = value->integer();
    if (auto value = node.get("swappiness")) memory.swappiness = value->unsigned_integer(100);
    if (auto value = node.get("disableOOMKiller")) memory.disable_oom_killer = value->boolean();
    return memory;
}

CpuResources read_cpu(const JsonNode& node) {
    node.expect_object();
    CpuResources cpu;
    if (auto value = node.get("shares")) cpu.shares = value->unsigned_integer();
    if (auto value = node.get("quota")) cpu.quota = value->integer();
    if (auto value = node.get("period")) cpu.period = value->unsigned_integer();
    if (auto value = node.get("cpus")) cpu.cpus = value->string();
    if (auto value = node.get("mems")) cpu.mems = value->string();
    return cpu;
}

Resources read_resources(const JsonNode& node) {
    node.expect_object();
    Resources resources;
    if (auto devices = node.get("devices")) resources.devices = read_device_rules(*devices);
    if (auto memory = node.get("memory")) resources.memory = read_memory(*memory);
    if (auto cpu = node.get("cpu")) resources.cpu = read_cpu(*cpu);
    if (auto pids = node.get("pids"))
        resources.pids_limit =
            pids->require("limit", "a number of processes, or -1 for no limit").integer();
    if (auto block_io = node.get("blockIO"))
        if (auto weight = block_io->get("weight"))
            resources.block_io_weight = static_cast<uint16_t>(weight->unsigned_integer(UINT16_MAX));
    if (auto unified = node.get("unified")) resources.unified = unified->string_map();
    return resources;
}

SeccompSyscall read_syscall_rule(const JsonNode& node) {
    node.expect_object();
    SeccompSyscall rule;
    const JsonNode names = node.require("names", "a list of syscall names such as [\"mount\"]");
    rule.names = names.strings();
    if (rule.names.empty()) names.fail("must not be empty");
    rule.action = one_of(node.require("action", "an action such as \"SCMP_ACT_ERRNO\""),
                         "seccomp action", seccomp_actions);
    if (auto errno_ret = node.get("errnoRet")) rule.errno_ret = errno_ret->uint32();
    if (auto args = node.get("args")) {
        for (const auto& element : args->elements()) {
            element.expect_object();
            SeccompArg arg;
            arg.index =
                static_cast<unsigned>(element.require("index", "the argument's index, 0 to 5")
                                          .unsigned_integer(max_syscall_args - 1));
            arg.value = element.require("value", "a non-negative integer").unsigned_integer();
            if (auto two = element.get("valueTwo")) arg.value_two = two->unsigned_integer();
            arg.op = one_of(element.require("op", "an operator such as \"SCMP_CMP_EQ\""),
                            "seccomp operator", seccomp_operators);
            rule.args.push_back(std::move(arg));
        }
    }
    return rule;
}

Seccomp read_seccomp(const JsonNode& node) {
    node.expect_object();
    Seccomp seccomp;
    seccomp.default_action =
        one_of(node.require("defaultAction", "an action such as \"SCMP_ACT_ERRNO\""),
               "seccomp action", seccomp_actions);
    if (auto errno_ret = node.get("defaultErrnoRet"))
        seccomp.default_errno_ret = errno_ret->uint32();
    // Architecture names are checked where the filter is built (security/seccomp.cpp), which
    // knows what libseccomp supports.
    if (auto architectures = node.get("architectures"))
        seccomp.architectures = architectures->strings();
    if (auto flags = node.get("flags"))
        for (const auto& flag : flags->elements())
            seccomp.flags.push_back(one_of(flag, "seccomp flag", seccomp_flags));
    if (auto syscalls = node.get("syscalls"))
        for (const auto& element : syscalls->elements())
            seccomp.syscalls.push_back(read_syscall_rule(element));
    return seccomp;
}

std::vector<std::string> read_absolute_paths(const JsonNode& node) {
    std::vector<std::string> paths;
    for (const auto& element : node.elements())
        paths.push_back(element.absolute_path());
    return paths;
}

Linux read_linux(const JsonNode& node) {
    node.expect_object();
    Linux linux_config;
    if (auto list = node.get("namespaces")) linux_config.namespaces = read_namespaces(*list);
    if (auto list = node.get("uidMappings")) linux_config.uid_mappings = read_id_mappings(*list);
    if (auto list = node.get("gidMappings")) linux_config.gid_mappings = read_id_mappings(*list);
    if (auto list = node.get("devices")) linux_config.devices = read_devices(*list);
    if (auto path = node.get("cgroupsPath")) linux_config.cgroups_path = path->string();
    if (auto resources = node.get("resources")) linux_config.resources = read_resources(*resources);
    if (auto sysctl = node.get("sysctl")) linux_config.sysctl = sysctl->string_map();
    if (auto list = node.get("maskedPaths")) linux_config.masked_paths = read_absolute_paths(*list);
    if (auto list = node.get("readonlyPaths"))
        linux_config.readonly_paths = read_absolute_paths(*list);
    if (auto seccomp = node.get("seccomp")) linux_config.seccomp = read_seccomp(*seccomp);
    if (auto propagation = node.get("rootfsPropagation")) {
        // An empty string, as some tools write, means the default.
        if (!propagation->string().empty())
            linux_config.rootfs_propagation =
                one_of(*propagation, "propagation", propagation_modes);
    }
    if (auto label = node.get("mountLabel")) linux_config.mount_label = label->string();
    return linux_config;
}

} // namespace

Config parse_config(std::string_view json_text, std::string_view file_name) {
    const Json document = parse_json_document(json_text, file_name);
    const JsonNode top(document, "", file_name);
    if (!document.is_object())
        top.fail("expected a JSON object at the top level, got " + describe(document));

    Config config;
    const JsonNode version = top.require("ociVersion", "the spec's version, such as \"1.0.2\"");
    config.oci_version = version.string();
    if (!config.oci_version.starts_with("1."))
        version.fail(fmt::format("unsupported version {}; lcloud-runtime implements version 1 "
                                 "of the spec, such as \"1.0.2\"",
                                 describe(version.json())));
    if (auto root = top.get("root")) config.root = read_root(*root);
    if (auto process = top.get("process")) config.process = read_process(*process);
    if (auto hostname = top.get("hostname")) {
        config.hostname = hostname->string();
        if (config.hostname.size() > host_name_max)
            hostname->fail(fmt::format("is {} bytes long; a host name has at most {}",
                                       config.hostname.size(), host_name_max));
    }
    if (auto domainname = top.get("domainname")) {
        config.domainname = domainname->string();
        if (config.domainname.size() > host_name_max)
            domainname->fail(fmt::format("is {} bytes long; a domain name has at most {}",
                                         config.domainname.size(), host_name_max));
    }
    if (auto mounts = top.get("mounts")) config.mounts = read_mounts(*mounts);
    if (auto hooks = top.get("hooks")) config.hooks = read_hooks(*hooks);
    if (auto annotations = top.get("annotations")) config.annotations = annotations->string_map();
    if (auto linux_node = top.get("linux")) config.linux = read_linux(*linux_node);
    return config;
}

Config load_config(const std::filesystem::path& bundle_dir) {
    const std::filesystem::path file = bundle_dir / "config.json";
    Fd fd(::open(file.c_str(), O_RDONLY | O_CLOEXEC));
    if (!fd) {
        if (errno == ENOENT)
            throw ConfigError(fmt::format("{}: no such file; a bundle directory holds the "
                                          "container's config.json (write one with "
                                          "'lcloud-runtime spec')",
                                          file.string()));
        throw ConfigError(fmt::format("{}: cannot open: {}", file.string(), std::strerror(errno)));
    }
    std::string text;
    char buffer[65536];
    for (;;) {
        const ssize_t count = ::read(fd.get(), buffer, sizeof buffer);
        if (count < 0) {
            if (errno == EINTR) continue;
            throw ConfigError(
                fmt::format("{}: cannot read: {}", file.string(), std::strerror(errno)));
        }
        if (count == 0) break;
        text.append(buffer, static_cast<size_t>(count));
    }
    return parse_config(text, file.string());
}

} // namespace lcloud::runtime::oci

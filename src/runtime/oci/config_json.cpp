#include "runtime/oci/config_json.hpp"

namespace lcloud::runtime::oci {

using Json = nlohmann::ordered_json;

Json to_json(const Seccomp& seccomp);

namespace {

// Sets `key` only when the value is not empty.
template <typename Value> void set_if_not_empty(Json& json, const char* key, const Value& value) {
    if (!value.empty()) json[key] = value;
}

template <typename Value>
void set_if_present(Json& json, const char* key, const std::optional<Value>& value) {
    if (value) json[key] = *value;
}

Json to_json(const User& user) {
    Json json = {{"uid", user.uid}, {"gid", user.gid}};
    set_if_present(json, "umask", user.umask);
    set_if_not_empty(json, "additionalGids", user.additional_gids);
    return json;
}

Json to_json(const Capabilities& caps) {
    Json json = Json::object();
    set_if_not_empty(json, "bounding", caps.bounding);
    set_if_not_empty(json, "effective", caps.effective);
    set_if_not_empty(json, "inheritable", caps.inheritable);
    set_if_not_empty(json, "permitted", caps.permitted);
    set_if_not_empty(json, "ambient", caps.ambient);
    return json;
}

Json to_json(const Process& process) {
    Json json = {{"terminal", process.terminal}};
    if (process.console_size)
        json["consoleSize"] = {{"height", process.console_size->height},
                               {"width", process.console_size->width}};
    json["user"] = to_json(process.user);
    json["args"] = process.args;
    set_if_not_empty(json, "env", process.env);
    json["cwd"] = process.cwd;
    if (process.capabilities) json["capabilities"] = to_json(*process.capabilities);
    if (!process.rlimits.empty()) {
        Json rlimits = Json::array();
        for (const auto& rlimit : process.rlimits)
            rlimits.push_back(
                {{"type", rlimit.type}, {"hard", rlimit.hard}, {"soft", rlimit.soft}});
        json["rlimits"] = rlimits;
    }
    if (process.no_new_privileges) json["noNewPrivileges"] = true;
    set_if_present(json, "oomScoreAdj", process.oom_score_adj);
    set_if_not_empty(json, "apparmorProfile", process.apparmor_profile);
    set_if_not_empty(json, "selinuxLabel", process.selinux_label);
    return json;
}

Json to_json(const Mount& mount) {
    Json json = {{"destination", mount.destination}};
    set_if_not_empty(json, "type", mount.type);
    set_if_not_empty(json, "source", mount.source);
    set_if_not_empty(json, "options", mount.options);
    return json;
}

Json to_json(const std::vector<Hook>& hooks) {
    Json json = Json::array();
    for (const auto& hook : hooks) {
        Json item = {{"path", hook.path}};
        set_if_not_empty(item, "args", hook.args);
        set_if_not_empty(item, "env", hook.env);
        set_if_present(item, "timeout", hook.timeout_seconds);
        json.push_back(item);
    }
    return json;
}

Json to_json(const Hooks& hooks) {
    Json json = Json::object();
    const std::pair<const char*, const std::vector<Hook>*> kinds[] = {
        {"prestart", &hooks.prestart},
        {"createRuntime", &hooks.create_runtime},
        {"createContainer", &hooks.create_container},
        {"startContainer", &hooks.start_container},
        {"poststart", &hooks.poststart},
        {"poststop", &hooks.poststop}};
    for (const auto& [key, list] : kinds)
        if (!list->empty()) json[key] = to_json(*list);
    return json;
}

Json to_json(const std::vector<IdMapping>& mappings) {
    Json json = Json::array();
    for (const auto& mapping : mappings)
        json.push_back({{"containerID", mapping.container_id},
                        {"hostID", mapping.host_id},
                        {"size", mapping.size}});
    return json;
}

Json to_json(const Resources& resources) {
    Json json = Json::object();
    if (!resources.devices.empty()) {
        Json devices = Json::array();
        for (const auto& rule : resources.devices) {
            Json item = {{"allow", rule.allow}};
            if (rule.type != "a") item["type"] = rule.type; // absent means all, as runc writes
            set_if_present(item, "major", rule.major);
            set_if_present(item, "minor", rule.minor);
            item["access"] = rule.access;
            devices.push_back(item);
        }
        json["devices"] = devices;
    }
    if (resources.memory) {
        const auto& memory = *resources.memory;
        Json item = Json::object();
        set_if_present(item, "limit", memory.limit);
        set_if_present(item, "reservation", memory.reservation);
        set_if_present(item, "swap", memory.swap);
        set_if_present(item, "kernel", memory.kernel);
        set_if_present(item, "swappiness", memory.swappiness);
        set_if_present(item, "disableOOMKiller", memory.disable_oom_killer);
        json["memory"] = item;
    }
    if (resources.cpu) {
        const auto& cpu = *resources.cpu;
        Json item = Json::object();
        set_if_present(item, "shares", cpu.shares);
        set_if_present(item, "quota", cpu.quota);
        set_if_present(item, "period", cpu.period);
        set_if_not_empty(item, "cpus", cpu.cpus);
        set_if_not_empty(item, "mems", cpu.mems);
        json["cpu"] = item;
    }
    if (resources.pids_limit) json["pids"] = {{"limit", *resources.pids_limit}};
    if (resources.block_io_weight) json["blockIO"] = {{"weight", *resources.block_io_weight}};
    set_if_not_empty(json, "unified", resources.unified);
    return json;
}

Json to_json(const Linux& linux_config) {
    // Go's field order in runtime-spec's specs-go, which is what runc and crun write.
    Json json = Json::object();
    if (!linux_config.uid_mappings.empty())
        json["uidMappings"] = to_json(linux_config.uid_mappings);
    if (!linux_config.gid_mappings.empty())
        json["gidMappings"] = to_json(linux_config.gid_mappings);
    set_if_not_empty(json, "sysctl", linux_config.sysctl);
    if (linux_config.resources) json["resources"] = to_json(*linux_config.resources);
    set_if_not_empty(json, "cgroupsPath", linux_config.cgroups_path);
    if (!linux_config.namespaces.empty()) {
        Json namespaces = Json::array();
        for (const auto& ns : linux_config.namespaces) {
            Json item = {{"type", to_string(ns.type)}};
            set_if_not_empty(item, "path", ns.path);
            namespaces.push_back(item);
        }
        json["namespaces"] = namespaces;
    }
    if (!linux_config.devices.empty()) {
        Json devices = Json::array();
        for (const auto& device : linux_config.devices) {
            Json item = {{"path", device.path},
                         {"type", std::string(1, device.type)},
                         {"major", device.major},
                         {"minor", device.minor}};
            set_if_present(item, "fileMode", device.file_mode);
            set_if_present(item, "uid", device.uid);
            set_if_present(item, "gid", device.gid);
            devices.push_back(item);
        }
        json["devices"] = devices;
    }
    if (linux_config.seccomp) json["seccomp"] = to_json(*linux_config.seccomp);
    set_if_not_empty(json, "rootfsPropagation", linux_config.rootfs_propagation);
    set_if_not_empty(json, "maskedPaths", linux_config.masked_paths);
    set_if_not_empty(json, "readonlyPaths", linux_config.readonly_paths);
    set_if_not_empty(json, "mountLabel", linux_config.mount_label);
    return json;
}

} // namespace

Json to_json(const Config& config) {
    Json json = {{"ociVersion", config.oci_version}};
    if (config.process) json["process"] = to_json(*config.process);
    Json root = {{"path", config.root.path}};
    if (config.root.readonly) root["readonly"] = true;
    json["root"] = root;
    set_if_not_empty(json, "hostname", config.hostname);
    set_if_not_empty(json, "domainname", config.domainname);
    if (!config.mounts.empty()) {
        Json mounts = Json::array();
        for (const auto& mount : config.mounts)
            mounts.push_back(to_json(mount));
        json["mounts"] = mounts;
    }
    if (Json hooks = to_json(config.hooks); !hooks.empty()) json["hooks"] = hooks;
    set_if_not_empty(json, "annotations", config.annotations);
    if (Json linux_json = to_json(config.linux); !linux_json.empty()) json["linux"] = linux_json;
    return json;
}

Json to_json(const Seccomp& seccomp) {
    Json json = {{"defaultAction", seccomp.default_action}};
    set_if_present(json, "defaultErrnoRet", seccomp.default_errno_ret);
    set_if_not_empty(json, "architectures", seccomp.architectures);
    set_if_not_empty(json, "flags", seccomp.flags);
    if (!seccomp.syscalls.empty()) {
        Json syscalls = Json::array();
        for (const auto& rule : seccomp.syscalls) {
            Json item = {{"names", rule.names}, {"action", rule.action}};
            set_if_present(item, "errnoRet", rule.errno_ret);
            if (!rule.args.empty()) {
                Json args = Json::array();
                for (const auto& arg : rule.args) {
                    Json condition = {{"index", arg.index}, {"value", arg.value}};
                    if (arg.value_two != 0) condition["valueTwo"] = arg.value_two;
                    condition["op"] = arg.op;
                    args.push_back(condition);
                }
                item["args"] = args;
            }
            syscalls.push_back(item);
        }
        json["syscalls"] = syscalls;
    }
    return json;
}

} // namespace lcloud::runtime::oci

#include "runtime/container/namespaces.hpp"

#include "common/error.hpp"

#include <algorithm>
#include <fcntl.h>
#include <fmt/format.h>
#include <sched.h>
#include <unistd.h>

namespace lcloud::runtime {

using oci::NamespaceType;

int clone_flag(NamespaceType type) {
    switch (type) {
    case NamespaceType::pid:
        return CLONE_NEWPID;
    case NamespaceType::network:
        return CLONE_NEWNET;
    case NamespaceType::mount:
        return CLONE_NEWNS;
    case NamespaceType::ipc:
        return CLONE_NEWIPC;
    case NamespaceType::uts:
        return CLONE_NEWUTS;
    case NamespaceType::user:
        return CLONE_NEWUSER;
    case NamespaceType::cgroup:
        return CLONE_NEWCGROUP;
    case NamespaceType::time:
        return 0x80; // CLONE_NEWTIME
    }
    return 0;
}

const char* proc_ns_name(NamespaceType type) {
    switch (type) {
    case NamespaceType::pid:
        return "pid";
    case NamespaceType::network:
        return "net";
    case NamespaceType::mount:
        return "mnt";
    case NamespaceType::ipc:
        return "ipc";
    case NamespaceType::uts:
        return "uts";
    case NamespaceType::user:
        return "user";
    case NamespaceType::cgroup:
        return "cgroup";
    case NamespaceType::time:
        return "time";
    }
    return "";
}

unsigned long long new_namespace_flags(const oci::Linux& linux_config) {
    unsigned long long flags = 0;
    for (const auto& ns : linux_config.namespaces)
        if (ns.path.empty()) flags |= static_cast<unsigned long long>(clone_flag(ns.type));
    return flags;
}

static void put_user_first(std::vector<NamespaceFd>& namespaces) {
    std::stable_partition(namespaces.begin(), namespaces.end(),
                          [](const NamespaceFd& ns) { return ns.type == NamespaceType::user; });
}

std::vector<NamespaceFd> open_namespace_paths(const oci::Linux& linux_config) {
    std::vector<NamespaceFd> namespaces;
    for (const auto& ns : linux_config.namespaces) {
        if (ns.path.empty()) continue;
        Fd fd(::open(ns.path.c_str(), O_RDONLY | O_CLOEXEC));
        if (!fd) throw_errno(fmt::format("open {} namespace", proc_ns_name(ns.type)), ns.path);
        namespaces.push_back({ns.type, std::move(fd)});
    }
    put_user_first(namespaces);
    return namespaces;
}

std::vector<NamespaceFd> open_container_namespaces(pid_t init_pid, const oci::Linux& linux_config) {
    std::vector<NamespaceFd> namespaces;
    for (const auto& ns : linux_config.namespaces) {
        const auto path = fmt::format("/proc/{}/ns/{}", init_pid, proc_ns_name(ns.type));
        Fd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
        if (!fd) throw_errno(fmt::format("open {} namespace", proc_ns_name(ns.type)), path);
        namespaces.push_back({ns.type, std::move(fd)});
    }
    put_user_first(namespaces);
    return namespaces;
}

void join_namespaces(const std::vector<NamespaceFd>& namespaces) {
    for (const auto& ns : namespaces)
        if (::setns(ns.fd.get(), clone_flag(ns.type)) != 0)
            throw_errno(fmt::format("join {} namespace", proc_ns_name(ns.type)),
                        fmt::format("fd {}", ns.fd.get()));
}

static void write_map(pid_t pid, const char* file, const std::vector<oci::IdMapping>& mappings) {
    std::string text;
    for (const auto& mapping : mappings)
        text += fmt::format("{} {} {}\n", mapping.container_id, mapping.host_id, mapping.size);
    const auto path = fmt::format("/proc/{}/{}", pid, file);
    Fd fd(::open(path.c_str(), O_WRONLY | O_CLOEXEC));
    if (!fd) throw_errno("open", path);
    if (::write(fd.get(), text.data(), text.size()) != static_cast<ssize_t>(text.size()))
        throw_errno(fmt::format("write '{}' to", text.substr(0, text.size() - 1)), path);
}

void write_id_mappings(pid_t pid, const oci::Linux& linux_config) {
    if (linux_config.uid_mappings.empty() || linux_config.gid_mappings.empty())
        throw Error("config.json: linux.uidMappings and linux.gidMappings are required with a new "
                    "user namespace");
    write_map(pid, "uid_map", linux_config.uid_mappings);
    write_map(pid, "gid_map", linux_config.gid_mappings);
}

} // namespace lcloud::runtime

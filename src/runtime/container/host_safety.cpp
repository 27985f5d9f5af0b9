#include "runtime/container/host_safety.hpp"

#include "common/error.hpp"
#include "runtime/security/diagnostics.hpp"

#include <fmt/format.h>
#include <sys/stat.h>

namespace lcloud::runtime {

namespace {

// The container has a namespace of this type that is not ours (the host's, for the runtime).
bool has_own(const oci::Linux& linux_config, oci::NamespaceType type, const char* proc_name) {
    const oci::Namespace* ns = linux_config.find_namespace(type);
    if (!ns) return false;
    if (ns->path.empty()) return true;
    struct stat joined {
    }, ours{};
    const std::string own_path = fmt::format("/proc/self/ns/{}", proc_name);
    if (::stat(ns->path.c_str(), &joined) != 0 || ::stat(own_path.c_str(), &ours) != 0)
        return true; // create reports a path it cannot open
    return joined.st_ino != ours.st_ino || joined.st_dev != ours.st_dev;
}

void refuse(const std::string& what, const char* needs) {
    throw security::InvalidSetting(
        fmt::format("config.json: {} needs {} of the container's own in "
                    "linux.namespaces; without one it would change the host",
                    what, needs));
}

} // namespace

void check_host_safety(const oci::Config& config) {
    const oci::Linux& linux_config = config.linux;
    const bool uts = has_own(linux_config, oci::NamespaceType::uts, "uts");
    const bool ipc = has_own(linux_config, oci::NamespaceType::ipc, "ipc");
    const bool network = has_own(linux_config, oci::NamespaceType::network, "net");
    if (!config.hostname.empty() && !uts) refuse("hostname", "a uts namespace");
    if (!config.domainname.empty() && !uts) refuse("domainname", "a uts namespace");
    for (const auto& [key, value] : linux_config.sysctl) {
        const std::string what = fmt::format("linux.sysctl {}", key);
        if (key.starts_with("net.")) {
            if (!network) refuse(what, "a network namespace");
        } else if (key == "kernel.hostname" || key == "kernel.domainname") {
            if (!uts) refuse(what, "a uts namespace");
        } else if (key.starts_with("kernel.msg") || key.starts_with("kernel.shm") ||
                   key == "kernel.sem" || key.starts_with("fs.mqueue.")) {
            if (!ipc) refuse(what, "an ipc namespace");
        } else {
            throw security::InvalidSetting(fmt::format(
                "config.json: linux.sysctl {} is not namespaced: setting it would change it "
                "for the whole host; set it on the host instead",
                key));
        }
    }
}

} // namespace lcloud::runtime

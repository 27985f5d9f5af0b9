#pragma once

#include "common/fd.hpp"
#include "runtime/oci/config.hpp"

#include <sys/types.h>
#include <vector>

namespace lcloud::runtime {

int clone_flag(oci::NamespaceType type);
// The name under /proc/PID/ns/.
const char* proc_ns_name(oci::NamespaceType type);

// The CLONE_NEW* flags of the namespaces the config asks to create (those without a path).
unsigned long long new_namespace_flags(const oci::Linux& linux_config);

struct NamespaceFd {
    oci::NamespaceType type;
    Fd fd;
};

// Opens the namespaces to join, all before joining any: a path may not resolve once the mount
// namespace changed. The user namespace comes first in the list.
std::vector<NamespaceFd> open_namespace_paths(const oci::Linux& linux_config);
// The namespaces of a running container's init, for exec; the user namespace first.
std::vector<NamespaceFd> open_container_namespaces(pid_t init_pid, const oci::Linux& linux_config);
void join_namespaces(const std::vector<NamespaceFd>& namespaces);

// Writes uid_map and gid_map of a child in a new user namespace.
void write_id_mappings(pid_t pid, const oci::Linux& linux_config);

} // namespace lcloud::runtime

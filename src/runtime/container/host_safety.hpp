#pragma once

#include "runtime/oci/config.hpp"

namespace lcloud::runtime {

// Refuses, before anything is made, settings that would change the host rather than the
// container, as runc and crun do: a hostname or domainname without a uts namespace of the
// container's own, a sysctl of a namespace the container does not have (net.* without a network
// namespace, kernel.shm*/msg*/sem and fs.mqueue.* without ipc, kernel.hostname/domainname without
// uts), and a sysctl that belongs to no namespace at all. Throws InvalidSetting naming the key.
void check_host_safety(const oci::Config& config);

} // namespace lcloud::runtime

#pragma once

#include "agent/ports/forward.hpp"

#include <optional>
#include <string>
#include <sys/types.h>

namespace lcloud::agent {

struct PortOwner {
    pid_t pid = 0;
    std::string name; // the process's comm; may be empty
};

// The process holding the host side of `forward`, found through the socket tables in /proc/net
// and the processes' fds; nullopt when it cannot be found (a socket of another network
// namespace, a process gone meanwhile).
std::optional<PortOwner> find_port_owner(const Forward& forward);

// " by NAME (pid N)" for find_port_owner's answer; empty when it has none.
std::string describe_port_owner(const Forward& forward);

} // namespace lcloud::agent

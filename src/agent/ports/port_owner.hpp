#pragma once

#include "agent/ports/forward.hpp"

#include <string>

namespace lcloud::agent {

// " by NAME (pid N)" for the process holding the host side of `forward`, found through the
// socket tables in /proc/net and the processes' fds; empty when it cannot be found (a socket of
// another network namespace, a process gone meanwhile).
std::string describe_port_owner(const Forward& forward);

} // namespace lcloud::agent

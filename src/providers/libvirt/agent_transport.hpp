#pragma once

// The agent in the VM, reached from the host over SSH: a direct-tcpip channel to the loopback
// port the guest's init has the agent listen on, bridged to a socket for AgentClient. No
// process is started in the guest per command (under TCG that costs a visible pause).

#include "agent/protocol/client.hpp"
#include "providers/machine.hpp"

#include <chrono>
#include <cstdint>

namespace lcloud::providers::libvirt {

// Where the box's init has the agent listen (src/box/guest/init: --listen-tcp).
inline constexpr uint16_t agent_tcp_port = 7070;

// Connects to the agent in the guest at `endpoint`. While the agent's port refuses (it starts
// just after the guest is ready), tries again until `wait` has passed; then tries
// `lcloud-agent attach` over an exec channel once, for a box whose agent has no TCP port.
agent::AgentClient connect_agent_over_ssh(const SshEndpoint& endpoint,
                                          std::chrono::milliseconds wait);

} // namespace lcloud::providers::libvirt

#pragma once

// Forwarded ports on the host: one process per environment (`lcloud-agent forward`) listens on
// each host_ip:host_port, TCP or UDP, and relays to the VM's address on guest_port, where the
// VM's agent publishes the container's port. It keeps listening while the VM is down or
// reboots. Its files live in the environment's state directory (see
// agent/ports/forwards_file.hpp). Callers hold the environment's lock.

#include "agent/ports/errors.hpp"
#include "agent/ports/forwards_file.hpp"
#include "providers/forward/errors.hpp"

#include <filesystem>
#include <optional>
#include <string>
#include <vector>

namespace lcloud::providers::forward {

// Protocol, host_ip (empty: 127.0.0.1), host_port, guest_port.
using PortForward = agent::HostForward;
using agent::Protocol;

// Throws PortsInUse listing every host port of `forwards` that cannot be bound, with the
// process holding it where it can be found, and ports listed twice. Ports that the running
// forwarder of `state_dir` holds count as free: a second `up` must not trip over its own ports.
void check_ports_free(const std::filesystem::path& state_dir,
                      const std::vector<PortForward>& forwards);

enum class ForwarderChange { unchanged, started, reloaded, stopped };

// Makes the forwarder of `state_dir` serve exactly `forwards`, aimed at `vm_address`:
// - none running: writes forwards.json, starts `agent_binary forward --state DIR` and waits
//   until it listens;
// - running with another list: rewrites forwards.json and reloads it (SIGHUP); ports that stay
//   keep their connections;
// - running with this list: nothing;
// - `forwards` empty: stops it.
// Throws InvalidPortAddress for a vm_address that is not an IP address, ForwarderError when it
// cannot start, does not answer within seconds (quoting its log),
// or cannot serve some ports; what it can serve it serves all the same.
ForwarderChange start_or_update_forwarder(const std::filesystem::path& state_dir,
                                          const std::string& vm_address,
                                          const std::vector<PortForward>& forwards,
                                          const std::filesystem::path& agent_binary);

// SIGTERM, then SIGKILL when it has not exited within seconds; its pid and status files go.
// Returns whether a forwarder was running. forwards.json stays.
bool stop_forwarder(const std::filesystem::path& state_dir);

// The pid of the environment's live forwarder; nullopt when none runs.
std::optional<pid_t> forwarder_pid(const std::filesystem::path& state_dir);

} // namespace lcloud::providers::forward

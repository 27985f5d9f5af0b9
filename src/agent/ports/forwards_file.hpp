#pragma once

// The host's port forwarder (`lcloud-agent forward --state DIR`) and the lcloud CLI share these
// files in an environment's state directory:
//   forwards.json          what to serve, written by lcloud (atomically):
//                          {"vm_address": "192.168.122.10",
//                           "forwards": [{"protocol": "tcp", "host_ip": "127.0.0.1",
//                                         "host_port": 8080, "guest_port": 8080}]}
//   forwarder.pid          the forwarder's pid, written once it handles signals
//   forwarder.status.json  what it loaded last and what it could not serve:
//                          {"pid": 1234, "loaded": <forwards.json>, "errors": ["..."]}
//   forwarder.log          its stdout and stderr

#include "agent/ports/forward.hpp"
#include "common/error.hpp"

#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <sys/types.h>
#include <vector>

namespace lcloud::agent {

inline constexpr const char* forwards_file_name = "forwards.json";
inline constexpr const char* forwarder_pid_file_name = "forwarder.pid";
inline constexpr const char* forwarder_status_file_name = "forwarder.status.json";
inline constexpr const char* forwarder_log_file_name = "forwarder.log";

// HOST_IP:HOST_PORT on the host relayed to VM_ADDRESS:GUEST_PORT. An empty host_ip means
// 127.0.0.1: a port is private to this host unless the project says otherwise.
struct HostForward {
    Protocol protocol = Protocol::tcp;
    std::string host_ip;
    uint16_t host_port = 0;
    uint16_t guest_port = 0;
    bool operator==(const HostForward&) const = default;
};

struct ForwardsFile {
    std::string vm_address;
    std::vector<HostForward> forwards;
    bool operator==(const ForwardsFile&) const = default;
};

// A forwards.json that cannot be read as one.
class InvalidForwardsFile : public Error {
  public:
    using Error::Error;
};

// host_ip filled in (127.0.0.1 when empty), so that equal files compare equal.
ForwardsFile normalized(ForwardsFile file);

nlohmann::json to_json(const ForwardsFile& file);
// Throws InvalidForwardsFile naming `source` (a path, for the message).
ForwardsFile forwards_from_json(const nlohmann::json& json, const std::string& source);
ForwardsFile parse_forwards_file(std::string_view text, const std::string& source);

// What PortForwarder serves: each forward aimed at vm_address:guest_port.
std::vector<Forward> forwarder_targets(const ForwardsFile& file);

} // namespace lcloud::agent

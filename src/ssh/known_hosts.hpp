#pragma once

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>

namespace lcloud::ssh {

// The name a host has in a known_hosts file: "host" on port 22, "[host]:port" otherwise.
std::string known_hosts_name(const std::string& host, uint16_t port);

// Pins `public_key_line` ("type base64 [comment]") as the host key of host:port in
// `known_hosts`, replacing any earlier entry for that name. Written atomically, mode 0600.
void pin_host_key(const std::filesystem::path& known_hosts, const std::string& host, uint16_t port,
                  const std::string& public_key_line);

// "type base64" pinned for host:port, or nullopt (also when the file does not exist).
std::optional<std::string> pinned_host_key(const std::filesystem::path& known_hosts,
                                           const std::string& host, uint16_t port);

} // namespace lcloud::ssh

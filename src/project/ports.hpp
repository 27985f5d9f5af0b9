#pragma once

#include "project/model.hpp"

#include <string_view>

namespace lcloud::project {

// Compose's short syntax: [HOST_IP:][HOST[-HOST]:]CONTAINER[-CONTAINER][/tcp|/udp], with an IPv6
// host address in brackets. Throws InvalidValue saying what a valid spec looks like.
PortMapping parse_port_spec(std::string_view spec);

// Validates a mapping built from Compose's long syntax (or a parsed short one): ranges of equal
// length, a valid host address.
void check_port_mapping(const PortMapping& mapping, std::string_view spec);

// Parses "8080" or "9000-9002" into [start, end].
std::pair<uint16_t, uint16_t> parse_port_range(std::string_view text);

bool is_ip_address(std::string_view text);

// Whether two mappings claim a common host port on addresses that overlap.
bool host_ports_overlap(const PortMapping& a, const PortMapping& b);

std::string format_port_mapping(const PortMapping& mapping);

} // namespace lcloud::project

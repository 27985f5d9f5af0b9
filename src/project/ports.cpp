#include "project/ports.hpp"

#include "common/strings.hpp"
#include "common/units.hpp"

#include <arpa/inet.h>
#include <fmt/format.h>

namespace lcloud::project {

namespace {

constexpr auto port_hint = "expected [HOST_IP:][HOST:]CONTAINER[/tcp|/udp], for example "
                           "\"8080:80\", \"127.0.0.1:5353:53/udp\" or \"9000-9002:9000-9002\"";

uint16_t parse_port_number(std::string_view text) {
    try {
        return static_cast<uint16_t>(parse_integer(text, 1, 65535));
    } catch (const InvalidValue&) {
        throw InvalidValue(
            fmt::format("invalid port '{}': a port is a number from 1 to 65535", text));
    }
}

} // namespace

bool is_ip_address(std::string_view text) {
    const std::string address(text);
    unsigned char buffer[sizeof(in6_addr)];
    return inet_pton(AF_INET, address.c_str(), buffer) == 1 ||
           inet_pton(AF_INET6, address.c_str(), buffer) == 1;
}

std::pair<uint16_t, uint16_t> parse_port_range(std::string_view text) {
    const auto dash = text.find('-');
    if (dash == std::string_view::npos) {
        const auto port = parse_port_number(text);
        return {port, port};
    }
    const auto start = parse_port_number(text.substr(0, dash));
    const auto end = parse_port_number(text.substr(dash + 1));
    if (end < start)
        throw InvalidValue(fmt::format("invalid port range '{}': the first port must not be above "
                                       "the last, for example '{}-{}'",
                                       text, end, start));
    return {start, end};
}

void check_port_mapping(const PortMapping& mapping, std::string_view spec) {
    if (!is_ip_address(mapping.host_ip))
        throw InvalidValue(
            fmt::format("invalid host address '{}' in port '{}': expected an IPv4 or "
                        "IPv6 address such as 127.0.0.1 or 0.0.0.0",
                        mapping.host_ip, spec));
    if (mapping.host_start == 0) return;
    const int host_count = mapping.host_end - mapping.host_start + 1;
    const int container_count = mapping.container_end - mapping.container_start + 1;
    if (host_count != container_count)
        throw InvalidValue(fmt::format("port '{}' maps {} host port{} to {} container port{}; the "
                                       "ranges must be of equal length",
                                       spec, host_count, host_count == 1 ? "" : "s",
                                       container_count, container_count == 1 ? "" : "s"));
}

PortMapping parse_port_spec(std::string_view spec) {
    PortMapping mapping;
    std::string_view rest = trim(spec);
    if (rest.empty()) throw InvalidValue(fmt::format("empty port: {}", port_hint));

    if (const auto slash = rest.rfind('/'); slash != std::string_view::npos) {
        const std::string protocol = to_lower(rest.substr(slash + 1));
        if (protocol == "tcp")
            mapping.protocol = Protocol::tcp;
        else if (protocol == "udp")
            mapping.protocol = Protocol::udp;
        else
            throw InvalidValue(
                fmt::format("invalid protocol '{}' in port '{}': expected tcp or udp",
                            rest.substr(slash + 1), spec));
        rest = rest.substr(0, slash);
    }

    std::string host_ip;
    bool has_host_ip = false;
    if (!rest.empty() && rest.front() == '[') {
        const auto close = rest.find(']');
        if (close == std::string_view::npos || close + 1 >= rest.size() || rest[close + 1] != ':')
            throw InvalidValue(fmt::format("invalid port '{}': an IPv6 host address is written in "
                                           "brackets, for example \"[::1]:8080:80\"",
                                           spec));
        host_ip = std::string(rest.substr(1, close - 1));
        has_host_ip = true;
        rest = rest.substr(close + 2);
    }

    auto parts = split(rest, ':');
    if (!has_host_ip && parts.size() == 3) {
        host_ip = parts[0];
        has_host_ip = true;
        parts.erase(parts.begin());
    }
    if (parts.size() > 2 || (has_host_ip && parts.size() != 2))
        throw InvalidValue(fmt::format("invalid port '{}': {}", spec, port_hint));
    if (has_host_ip) mapping.host_ip = host_ip;

    const auto container_range = parse_port_range(parts.back());
    mapping.container_start = container_range.first;
    mapping.container_end = container_range.second;
    if (parts.size() == 2 && !parts[0].empty()) {
        const auto host_range = parse_port_range(parts[0]);
        mapping.host_start = host_range.first;
        mapping.host_end = host_range.second;
    }
    check_port_mapping(mapping, spec);
    return mapping;
}

static bool is_wildcard(std::string_view address) {
    return address == "0.0.0.0" || address == "::";
}

bool host_ports_overlap(const PortMapping& a, const PortMapping& b) {
    if (a.host_start == 0 || b.host_start == 0 || a.protocol != b.protocol) return false;
    if (a.host_end < b.host_start || b.host_end < a.host_start) return false;
    return a.host_ip == b.host_ip || is_wildcard(a.host_ip) || is_wildcard(b.host_ip);
}

std::string format_port_mapping(const PortMapping& mapping) {
    const auto range = [](uint16_t start, uint16_t end) {
        return start == end ? fmt::format("{}", start) : fmt::format("{}-{}", start, end);
    };
    const bool v6 = mapping.host_ip.find(':') != std::string::npos;
    const std::string address = v6 ? "[" + mapping.host_ip + "]" : mapping.host_ip;
    const std::string host =
        mapping.host_start == 0 ? "" : range(mapping.host_start, mapping.host_end);
    return fmt::format("{}:{}:{}/{}", address, host,
                       range(mapping.container_start, mapping.container_end),
                       to_string(mapping.protocol));
}

} // namespace lcloud::project

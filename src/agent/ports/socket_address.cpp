#include "agent/ports/socket_address.hpp"

#include "agent/ports/errors.hpp"
#include "agent/ports/forward.hpp"

#include <arpa/inet.h>
#include <fmt/format.h>
#include <netinet/in.h>

namespace lcloud::agent {

std::string SocketAddress::key() const {
    if (family() == AF_INET) {
        const auto& in = reinterpret_cast<const sockaddr_in&>(storage);
        return std::string(reinterpret_cast<const char*>(&in.sin_addr), sizeof in.sin_addr) +
               std::string(reinterpret_cast<const char*>(&in.sin_port), sizeof in.sin_port);
    }
    const auto& in6 = reinterpret_cast<const sockaddr_in6&>(storage);
    return std::string(reinterpret_cast<const char*>(&in6.sin6_addr), sizeof in6.sin6_addr) +
           std::string(reinterpret_cast<const char*>(&in6.sin6_port), sizeof in6.sin6_port);
}

SocketAddress parse_socket_address(const std::string& ip, uint16_t port, const std::string& role) {
    SocketAddress address;
    auto& in = reinterpret_cast<sockaddr_in&>(address.storage);
    if (::inet_pton(AF_INET, ip.c_str(), &in.sin_addr) == 1) {
        in.sin_family = AF_INET;
        in.sin_port = htons(port);
        address.length = sizeof(sockaddr_in);
        return address;
    }
    auto& in6 = reinterpret_cast<sockaddr_in6&>(address.storage);
    if (::inet_pton(AF_INET6, ip.c_str(), &in6.sin6_addr) == 1) {
        in6.sin6_family = AF_INET6;
        in6.sin6_port = htons(port);
        address.length = sizeof(sockaddr_in6);
        return address;
    }
    throw InvalidPortAddress(fmt::format(
        "{} \"{}\" is not an IP address; write it as digits, like 127.0.0.1 or ::1", role, ip));
}

const char* protocol_name(Protocol protocol) {
    return protocol == Protocol::udp ? "udp" : "tcp";
}

std::string host_side(const Forward& forward) {
    const bool v6 = forward.host_ip.find(':') != std::string::npos;
    const std::string ip = v6 ? "[" + forward.host_ip + "]" : forward.host_ip;
    return fmt::format("{}:{}/{}", ip, forward.host_port, protocol_name(forward.protocol));
}

} // namespace lcloud::agent

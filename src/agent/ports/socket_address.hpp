#pragma once

#include <cstdint>
#include <string>
#include <sys/socket.h>

namespace lcloud::agent {

// An IPv4 or IPv6 address and port, ready for bind/connect/sendto.
struct SocketAddress {
    sockaddr_storage storage{};
    socklen_t length = 0;

    int family() const { return storage.ss_family; }
    const sockaddr* get() const { return reinterpret_cast<const sockaddr*>(&storage); }
    sockaddr* get() { return reinterpret_cast<sockaddr*>(&storage); }
    // The bytes that tell two peers apart (family, address, port), for use as a map key.
    std::string key() const;
};

// Throws InvalidPortAddress naming `role` ("host IP of a published port") when `ip` is not a
// numeric IPv4 or IPv6 address.
SocketAddress parse_socket_address(const std::string& ip, uint16_t port, const std::string& role);

} // namespace lcloud::agent

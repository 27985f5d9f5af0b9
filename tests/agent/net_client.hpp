#pragma once

// Small blocking socket helpers for tests that talk to published ports.

#include "common/fd.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <optional>
#include <poll.h>
#include <string>
#include <sys/socket.h>
#include <unistd.h>

namespace lcloud::test {

inline uint16_t free_port(int type = SOCK_STREAM) {
    Fd fd(::socket(AF_INET, type | SOCK_CLOEXEC, 0));
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t length = sizeof address;
    ::bind(fd.get(), reinterpret_cast<sockaddr*>(&address), length);
    ::getsockname(fd.get(), reinterpret_cast<sockaddr*>(&address), &length);
    return ntohs(address.sin_port);
}

// 127.0.0.1:port, or another address of the loopback network (all of 127/8 is local).
inline sockaddr_in loopback(uint16_t port, const char* ip = "127.0.0.1") {
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_port = htons(port);
    ::inet_pton(AF_INET, ip, &address.sin_addr);
    return address;
}

// Sends `request` over TCP to ip:port and returns all it answers; nullopt when the
// connection fails.
inline std::optional<std::string> tcp_exchange(uint16_t port, const std::string& request,
                                               int timeout_ms = 3000,
                                               const char* ip = "127.0.0.1") {
    Fd fd(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
    const auto address = loopback(port, ip);
    if (::connect(fd.get(), reinterpret_cast<const sockaddr*>(&address), sizeof address) != 0)
        return std::nullopt;
    if (::write(fd.get(), request.data(), request.size()) < 0) return std::nullopt;
    ::shutdown(fd.get(), SHUT_WR);
    std::string answer;
    for (;;) {
        pollfd ready{fd.get(), POLLIN, 0};
        if (::poll(&ready, 1, timeout_ms) <= 0) break;
        char buffer[4096];
        const ssize_t got = ::read(fd.get(), buffer, sizeof buffer);
        if (got <= 0) break;
        answer.append(buffer, static_cast<size_t>(got));
    }
    if (answer.empty()) return std::nullopt;
    return answer;
}

inline std::optional<std::string> udp_exchange(uint16_t port, const std::string& datagram,
                                               int timeout_ms = 1000,
                                               const char* ip = "127.0.0.1") {
    Fd fd(::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0));
    const auto address = loopback(port, ip);
    ::sendto(fd.get(), datagram.data(), datagram.size(), 0,
             reinterpret_cast<const sockaddr*>(&address), sizeof address);
    pollfd ready{fd.get(), POLLIN, 0};
    if (::poll(&ready, 1, timeout_ms) <= 0) return std::nullopt;
    char buffer[2048];
    const ssize_t got = ::recv(fd.get(), buffer, sizeof buffer, 0);
    if (got <= 0) return std::nullopt;
    return std::string(buffer, static_cast<size_t>(got));
}

} // namespace lcloud::test

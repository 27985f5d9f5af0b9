#pragma once

// A plain HTTP/1.0 GET of 127.0.0.1:PORT, for a benchmark that waits until a project serves:
// one connection, a bounded wait, no retries (the caller polls).

#include <arpa/inet.h>
#include <cerrno>
#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <netinet/in.h>
#include <optional>
#include <poll.h>
#include <string>
#include <sys/socket.h>
#include <unistd.h>

namespace lcloud::bench {

struct HttpAnswer {
    int status = 0;
    std::string body;
};

// nullopt when nothing answers (refused, reset, closed before a status line, or `timeout`
// spent); the timeout bounds the whole exchange.
inline std::optional<HttpAnswer> http_get(uint16_t port, const std::string& path,
                                          std::chrono::milliseconds timeout) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) return std::nullopt;
    struct Closer {
        int fd;
        ~Closer() { ::close(fd); }
    } closer{fd};
    // Waits for `events` on the socket until the deadline; false when it passed.
    const auto wait_for = [&](short events) {
        for (;;) {
            const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
                deadline - std::chrono::steady_clock::now());
            if (left.count() <= 0) return false;
            pollfd item{fd, events, 0};
            const int ready = ::poll(&item, 1, static_cast<int>(left.count()));
            if (ready > 0) return true;
            if (ready < 0 && errno != EINTR) return false;
        }
    };
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_port = htons(port);
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (::connect(fd, reinterpret_cast<sockaddr*>(&address), sizeof address) != 0) {
        if (errno != EINPROGRESS || !wait_for(POLLOUT)) return std::nullopt;
        int error = 0;
        socklen_t size = sizeof error;
        if (::getsockopt(fd, SOL_SOCKET, SO_ERROR, &error, &size) != 0 || error != 0)
            return std::nullopt;
    }
    const std::string request =
        "GET " + path + " HTTP/1.0\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n";
    for (size_t sent = 0; sent < request.size();) {
        const ssize_t n = ::send(fd, request.data() + sent, request.size() - sent, MSG_NOSIGNAL);
        if (n > 0) {
            sent += static_cast<size_t>(n);
        } else if (n < 0 && errno == EAGAIN) {
            if (!wait_for(POLLOUT)) return std::nullopt;
        } else if (!(n < 0 && errno == EINTR)) {
            return std::nullopt;
        }
    }
    std::string response;
    for (char buffer[4096];;) {
        const ssize_t n = ::recv(fd, buffer, sizeof buffer, 0);
        if (n > 0) {
            response.append(buffer, static_cast<size_t>(n));
        } else if (n == 0) {
            break;
        } else if (errno == EAGAIN) {
            if (!wait_for(POLLIN)) return std::nullopt;
        } else if (errno != EINTR) {
            return std::nullopt; // a reset: a relay with nothing behind it yet
        }
    }
    // "HTTP/1.x NNN reason\r\n...headers...\r\n\r\nbody"
    if (response.rfind("HTTP/1.", 0) != 0 || response.size() < 12) return std::nullopt;
    const auto head_end = response.find("\r\n\r\n");
    if (head_end == std::string::npos) return std::nullopt;
    HttpAnswer answer;
    answer.status = std::atoi(response.c_str() + 9);
    answer.body = response.substr(head_end + 4);
    return answer;
}

} // namespace lcloud::bench

#pragma once

#include "agent/event_loop.hpp"
#include "agent/ports/socket_address.hpp"
#include "common/fd.hpp"

#include <cstddef>
#include <memory>
#include <string>

namespace lcloud::agent {

// One bound host port and everything relayed through it; destroying it closes all of that.
class PublishedPort {
  public:
    virtual ~PublishedPort() = default;
    // Live TCP connections or UDP sessions.
    virtual size_t relays() const = 0;
};

// `listener` is bound and listening; `name` ("127.0.0.1:8080/tcp") is for log lines.
std::unique_ptr<PublishedPort> serve_tcp(EventLoop& loop, Fd listener, SocketAddress target,
                                         std::string name);
// `socket` is bound; a client's session ends after `idle` without a datagram either way.
std::unique_ptr<PublishedPort> serve_udp(EventLoop& loop, Fd socket, SocketAddress target,
                                         std::string name, Clock::duration idle);

} // namespace lcloud::agent

#pragma once

// Published ports, in user space: one forwarder for every port of the agent, on its event
// loop. TCP connections are relayed both ways with half-close; UDP clients each get a session
// socket to the container, dropped after a minute of silence.

#include "agent/event_loop.hpp"
#include "agent/ports/errors.hpp"
#include "agent/ports/forward.hpp"

#include <chrono>
#include <cstddef>
#include <memory>
#include <string>
#include <sys/types.h>
#include <utility>
#include <vector>

namespace lcloud::agent {

class PublishedPort;

class PortForwarder {
  public:
    explicit PortForwarder(EventLoop& loop, Clock::duration udp_idle = std::chrono::seconds(60));
    PortForwarder(const PortForwarder&) = delete;
    PortForwarder& operator=(const PortForwarder&) = delete;
    ~PortForwarder(); // closes every socket

    // Binds now (SO_REUSEADDR for TCP) and serves. Throws PortInUse naming the process that
    // holds the port when it can be found, InvalidPortAddress for an address that is not an IP,
    // SystemError for other bind failures. Adding a forward exactly as it is already served
    // does nothing.
    void add(const Forward& forward);
    // Closes the listener of the forward's host side (protocol, host_ip, host_port) and every
    // connection or session relayed through it. An unknown forward is ignored.
    void remove(const Forward& forward);
    std::vector<Forward> list() const;
    // Live TCP connections and UDP sessions, over all ports.
    size_t relays() const;

  private:
    EventLoop& loop_;
    Clock::duration udp_idle_;
    std::vector<std::pair<Forward, std::unique_ptr<PublishedPort>>> ports_;
};

// Which of these cannot be bound now, one message each, as PortInUse words it ("127.0.0.1:8080/tcp
// is already in use by nginx (pid 1234)"); also a host side listed twice. Binds each only for the
// check; the target fields are not looked at. A port held by one of `own_holders` (a forwarder
// about to be reloaded with these forwards) counts as available.
std::vector<std::string> unavailable_ports(const std::vector<Forward>& forwards,
                                           const std::vector<pid_t>& own_holders = {});

} // namespace lcloud::agent

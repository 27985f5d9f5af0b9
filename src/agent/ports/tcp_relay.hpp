#pragma once

#include "agent/event_loop.hpp"
#include "agent/ports/socket_address.hpp"
#include "common/fd.hpp"

#include <cstddef>
#include <functional>
#include <memory>

namespace lcloud::agent {

// A fixed-size byte queue: what one side sent and the other has not taken yet.
class RelayBuffer {
  public:
    static constexpr size_t capacity = 64 * 1024;
    RelayBuffer() : data_(new char[capacity]) {}
    bool empty() const { return begin_ == end_; }
    bool full() const { return end_ == capacity && begin_ == 0; }
    // Reads from `fd` into the free space: bytes read, 0 at EOF, -1 with errno.
    ssize_t fill_from(int fd);
    // Sends what is queued to `fd`: bytes sent, -1 with errno.
    ssize_t drain_to(int fd);

  private:
    std::unique_ptr<char[]> data_;
    size_t begin_ = 0, end_ = 0;
};

// One relayed TCP connection: an accepted client and a nonblocking connection to the target,
// bytes copied both ways through bounded buffers, each side's EOF passed on as shutdown(SHUT_WR).
class TcpRelay {
  public:
    // Starts connecting to `target`. `on_done` runs from a loop handler once the relay has ended
    // (both ways finished, an error, or the target refused); the owner may destroy it there.
    TcpRelay(EventLoop& loop, Fd client, const SocketAddress& target,
             std::function<void()> on_done);
    TcpRelay(const TcpRelay&) = delete;
    TcpRelay& operator=(const TcpRelay&) = delete;
    ~TcpRelay();

    bool done() const { return done_; }

  private:
    struct Side {
        Fd fd;
        bool watched = false;
        uint32_t events = 0;
        bool hung_up = false; // saw EPOLLHUP: no longer watch it when nothing is wanted of it
    };
    // One direction: bytes read from `from` wait in `buffer` until written to `to`.
    struct Flow {
        RelayBuffer buffer;
        bool eof = false;  // `from` sent EOF
        bool shut = false; // passed on to `to`
    };

    void on_event(Side& side, uint32_t events);
    bool finish_connect();
    bool move(Flow& flow, Side& from, Side& to);
    void update(Side& side, uint32_t wanted, bool finished);
    void end();

    EventLoop& loop_;
    Side client_, target_;
    Flow upstream_, downstream_; // client -> target, target -> client
    bool connected_ = false;
    bool done_ = false;
    std::function<void()> on_done_;
};

} // namespace lcloud::agent

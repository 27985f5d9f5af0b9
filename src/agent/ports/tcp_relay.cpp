#include "agent/ports/tcp_relay.hpp"

#include "common/error.hpp"

#include <cerrno>
#include <cstring>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

namespace lcloud::agent {

namespace {

// Copying rounds per wakeup: enough for throughput, bounded so one busy connection cannot
// starve the others on the loop.
constexpr int rounds_per_event = 16;
constexpr uint32_t readable = EPOLLIN;
constexpr uint32_t writable = EPOLLOUT;

bool transient(int error) {
    return error == EAGAIN || error == EWOULDBLOCK || error == EINTR;
}

int socket_error(int fd) {
    int error = 0;
    socklen_t length = sizeof error;
    if (::getsockopt(fd, SOL_SOCKET, SO_ERROR, &error, &length) != 0) return errno;
    return error;
}

void set_nodelay(int fd) {
    // A relay must not add Nagle's delay on top of the endpoints' own choices.
    const int one = 1;
    ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
}

} // namespace

ssize_t RelayBuffer::fill_from(int fd) {
    if (begin_ == end_) begin_ = end_ = 0;
    if (end_ == capacity && begin_ > 0) {
        std::memmove(data_.get(), data_.get() + begin_, end_ - begin_);
        end_ -= begin_;
        begin_ = 0;
    }
    if (end_ == capacity) {
        errno = ENOBUFS;
        return -1;
    }
    const ssize_t got = ::recv(fd, data_.get() + end_, capacity - end_, 0);
    if (got > 0) end_ += static_cast<size_t>(got);
    return got;
}

ssize_t RelayBuffer::drain_to(int fd) {
    const ssize_t sent = ::send(fd, data_.get() + begin_, end_ - begin_, MSG_NOSIGNAL);
    if (sent > 0) {
        begin_ += static_cast<size_t>(sent);
        if (begin_ == end_) begin_ = end_ = 0;
    }
    return sent;
}

TcpRelay::TcpRelay(EventLoop& loop, Fd client, const SocketAddress& target,
                   std::function<void()> on_done)
    : loop_(loop), on_done_(std::move(on_done)) {
    client_.fd = std::move(client);
    target_.fd = Fd(::socket(target.family(), SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
    if (!target_.fd) throw_errno("socket", "a connection to a published port's container");
    set_nodelay(client_.fd.get());
    set_nodelay(target_.fd.get());
    if (::connect(target_.fd.get(), target.get(), target.length) == 0) {
        connected_ = true;
    } else if (errno != EINPROGRESS) {
        done_ = true; // refused at once: the owner drops us, which closes the client
        return;
    }
    try {
        update(client_, EPOLLIN, false);
        update(target_, EPOLLOUT, false);
    } catch (...) {
        if (client_.watched) loop_.unwatch(client_.fd.get());
        throw;
    }
}

TcpRelay::~TcpRelay() {
    // Unwatched before the Fds close, so no registration outlives its descriptor.
    if (client_.watched) loop_.unwatch(client_.fd.get());
    if (target_.watched) loop_.unwatch(target_.fd.get());
}

bool TcpRelay::finish_connect() {
    if (socket_error(target_.fd.get()) != 0) return false; // refused, unreachable, timed out
    connected_ = true;
    return true;
}

void TcpRelay::on_event(Side& side, uint32_t events) {
    if (done_) return;
    if (events & EPOLLHUP) side.hung_up = true;
    if (!connected_ && &side == &target_) {
        if (!finish_connect()) return end();
    } else if ((events & EPOLLERR) && socket_error(side.fd.get()) != 0) {
        return end(); // reset: nothing more will pass this way
    }
    if (!move(upstream_, client_, target_)) return end();
    if (connected_ && !move(downstream_, target_, client_)) return end();
    if (upstream_.shut && downstream_.shut) return end();

    const uint32_t client_wants = (!upstream_.eof && !upstream_.buffer.full() ? readable : 0) |
                                  (!downstream_.buffer.empty() ? writable : 0);
    uint32_t target_wants = writable; // until connected
    if (connected_)
        target_wants = (!downstream_.eof && !downstream_.buffer.full() ? readable : 0) |
                       (!upstream_.buffer.empty() ? writable : 0);
    update(client_, client_wants, upstream_.eof && downstream_.shut);
    update(target_, target_wants, downstream_.eof && upstream_.shut);
}

bool TcpRelay::move(Flow& flow, Side& from, Side& to) {
    for (int round = 0; round < rounds_per_event; ++round) {
        bool progress = false;
        if (!flow.eof && !flow.buffer.full()) {
            const ssize_t got = flow.buffer.fill_from(from.fd.get());
            if (got > 0) {
                progress = true;
            } else if (got == 0) {
                flow.eof = true;
            } else if (!transient(errno)) {
                return false;
            }
        }
        if (connected_ && !flow.buffer.empty()) {
            const ssize_t sent = flow.buffer.drain_to(to.fd.get());
            if (sent > 0)
                progress = true;
            else if (sent < 0 && !transient(errno))
                return false;
        }
        if (!progress) break;
    }
    if (connected_ && flow.eof && flow.buffer.empty() && !flow.shut) {
        ::shutdown(to.fd.get(), SHUT_WR);
        flow.shut = true;
    }
    return true;
}

// With nothing wanted, a socket stays watched for errors (EPOLLERR/EPOLLHUP come regardless of
// the mask), unless it is finished or already hung up: then those would fire on every round.
void TcpRelay::update(Side& side, uint32_t wanted, bool finished) {
    const int fd = side.fd.get();
    if (wanted == 0 && (finished || side.hung_up)) {
        if (side.watched) loop_.unwatch(fd);
        side.watched = false;
        return;
    }
    if (!side.watched) {
        loop_.watch(fd, wanted, [this, &side](uint32_t events) { on_event(side, events); });
        side.watched = true;
    } else if (side.events != wanted) {
        loop_.modify(fd, wanted);
    }
    side.events = wanted;
}

void TcpRelay::end() {
    done_ = true;
    if (client_.watched) loop_.unwatch(client_.fd.get());
    if (target_.watched) loop_.unwatch(target_.fd.get());
    client_.watched = target_.watched = false;
    // The owner may destroy this relay in on_done, so nothing of it is touched afterwards.
    auto done = std::move(on_done_);
    if (done) done();
}

} // namespace lcloud::agent

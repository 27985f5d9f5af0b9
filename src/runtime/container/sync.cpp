#include "runtime/container/sync.hpp"

#include "common/error.hpp"

#include <cerrno>
#include <fmt/format.h>
#include <sys/socket.h>

namespace lcloud::runtime {

std::pair<SyncChannel, SyncChannel> SyncChannel::make_pair() {
    int fds[2];
    if (::socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, fds) != 0)
        throw_errno("create", "sync socket pair");
    return {SyncChannel(Fd(fds[0])), SyncChannel(Fd(fds[1]))};
}

void SyncChannel::send(std::string_view message) const {
    while (::send(fd_.get(), message.data(), message.size(), MSG_NOSIGNAL) < 0) {
        if (errno == EINTR) continue;
        const int error = errno;
        // The other side failed and exited: its reason, still queued for us, says more than EPIPE.
        if (error == EPIPE || error == ECONNRESET)
            for (std::string pending = receive(); !pending.empty(); pending = receive())
                if (pending.starts_with("error:")) throw Error(pending.substr(6));
        errno = error;
        throw_errno("send to", "sync socket");
    }
}

std::string SyncChannel::receive() const {
    for (;;) {
        // A message (the state JSON, with its annotations) may be of any size: ask first.
        const ssize_t size = ::recv(fd_.get(), nullptr, 0, MSG_PEEK | MSG_TRUNC);
        if (size < 0) {
            if (errno == EINTR) continue;
            if (errno == ECONNRESET) return {};
            throw_errno("receive from", "sync socket");
        }
        std::string message(static_cast<size_t>(size), '\0');
        const ssize_t count = ::recv(fd_.get(), message.data(), message.size(), 0);
        if (count >= 0) {
            message.resize(static_cast<size_t>(count));
            return message;
        }
        if (errno != EINTR) throw_errno("receive from", "sync socket");
    }
}

void SyncChannel::expect(std::string_view message, std::string_view who) const {
    const std::string received = receive();
    if (received == message) return;
    if (received.starts_with("error:")) throw Error(received.substr(6));
    if (received.empty()) throw Error(fmt::format("{} exited before it was ready", who));
    throw Error(fmt::format("{} sent '{}' where '{}' was expected", who, received, message));
}

} // namespace lcloud::runtime

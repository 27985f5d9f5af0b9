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
        throw_errno("send to", "sync socket");
    }
}

std::string SyncChannel::receive() const {
    char buffer[4096];
    for (;;) {
        const ssize_t count = ::recv(fd_.get(), buffer, sizeof buffer, 0);
        if (count >= 0) return std::string(buffer, static_cast<size_t>(count));
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

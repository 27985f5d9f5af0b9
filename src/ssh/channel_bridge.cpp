#include "ssh/channel_bridge.hpp"

#include "common/error.hpp"
#include "ssh/errors.hpp"

#include <algorithm>
#include <array>
#include <cerrno>
#include <fcntl.h>
#include <poll.h>
#include <spdlog/spdlog.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

namespace lcloud::ssh {

namespace {

// Enough to keep the channel busy, little enough that a reader who stalls stalls the channel.
constexpr size_t max_held = 1 << 20;

} // namespace

ChannelBridge::ChannelBridge(Session session, ChannelHandle channel)
    : session_(std::move(session)), channel_(std::move(channel)) {
    int ends[2];
    if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, ends) != 0)
        throw_errno("socketpair", "the bridge to " + session_.where());
    caller_end_ = Fd(ends[0]);
    pump_end_ = Fd(ends[1]);
    if (::fcntl(pump_end_.get(), F_SETFL, O_NONBLOCK) != 0)
        throw_errno("fcntl", "the bridge to " + session_.where());
    stop_ = Fd(::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK));
    if (!stop_) throw_errno("eventfd", "the bridge to " + session_.where());
    thread_ = std::thread([this] { pump(); });
}

ChannelBridge::~ChannelBridge() {
    const uint64_t one = 1;
    (void)!::write(stop_.get(), &one, sizeof one);
    if (thread_.joinable()) thread_.join();
    // Tell the server we are done; the session's deleter then disconnects.
    if (channel_ && ssh_channel_is_open(channel_.get())) ssh_channel_close(channel_.get());
}

Fd ChannelBridge::take_socket() {
    return std::move(caller_end_);
}

std::string ChannelBridge::failure() const {
    return failed_.load() ? failure_ : std::string();
}

void ChannelBridge::pump() noexcept {
    try {
        pump_until_done();
    } catch (const std::exception& error) {
        failure_ = error.what();
        failed_.store(true);
        spdlog::debug("ssh bridge to {}: {}", session_.where(), failure_);
    }
    // Whatever ended it, the caller must see end of file rather than wait forever.
    ::shutdown(pump_end_.get(), SHUT_RDWR);
}

void ChannelBridge::pump_until_done() {
    ssh_session session = session_.raw();
    ssh_channel channel = channel_.get();
    const std::string& where = session_.where();
    std::array<char, 32768> buffer;
    std::string to_caller;  // from the channel, not yet written to the socket
    std::string to_channel; // from the socket, not yet sent
    bool caller_done = false;
    for (;;) {
        // Channel to socket. Empty libssh's buffers first: poll() only sees the socket.
        while (to_caller.size() < max_held) {
            const int count =
                ssh_channel_read_nonblocking(channel, buffer.data(), buffer.size(), 0);
            if (count == SSH_ERROR)
                throw SshError(where, "read from the channel", ssh_get_error(session));
            if (count <= 0) break;
            to_caller.append(buffer.data(), static_cast<size_t>(count));
        }
        // An exec channel's stderr (`lcloud-agent attach` complaining): only for the log.
        if (const int count =
                ssh_channel_read_nonblocking(channel, buffer.data(), buffer.size(), 1);
            count > 0)
            spdlog::debug("ssh bridge to {}: {}", where,
                          std::string_view(buffer.data(), static_cast<size_t>(count)));
        while (!to_caller.empty()) {
            const ssize_t written = ::write(pump_end_.get(), to_caller.data(), to_caller.size());
            if (written > 0) {
                to_caller.erase(0, static_cast<size_t>(written));
                continue;
            }
            if (written < 0 && errno == EINTR) continue;
            if (written < 0 && errno == EAGAIN) break;
            return; // the caller closed its end: nobody wants the rest
        }
        const bool channel_done = ssh_channel_is_eof(channel) || ssh_channel_is_closed(channel);
        if (channel_done && to_caller.empty()) return;

        // Socket to channel, only as far as the server's window allows: a write never blocks.
        if (!to_channel.empty() && !channel_done) {
            const uint32_t window = ssh_channel_window_size(channel);
            if (window > 0) {
                const size_t size = std::min<size_t>(to_channel.size(), window);
                const int written = ssh_channel_write(channel, to_channel.data(), size);
                if (written == SSH_ERROR)
                    throw SshError(where, "write to the channel", ssh_get_error(session));
                to_channel.erase(0, static_cast<size_t>(written));
            }
        }
        if (caller_done && to_channel.empty()) {
            ssh_channel_send_eof(channel);
            return;
        }

        std::array<pollfd, 3> fds{};
        nfds_t count = 0;
        fds[count++] = {stop_.get(), POLLIN, 0};
        fds[count++] = {ssh_get_fd(session),
                        static_cast<short>(to_caller.size() < max_held ? POLLIN : 0), 0};
        const nfds_t socket_index = count;
        short socket_events = 0;
        if (!caller_done && to_channel.empty()) socket_events |= POLLIN;
        if (!to_caller.empty()) socket_events |= POLLOUT;
        fds[count++] = {pump_end_.get(), socket_events, 0};
        // Short while data waits for the window: its adjustment may already have been parsed.
        const int timeout = !to_channel.empty() || to_caller.size() >= max_held ? 20 : 1000;
        if (::poll(fds.data(), count, timeout) < 0 && errno != EINTR)
            throw_errno("poll", "the bridge to " + where);
        if (fds[0].revents) return; // the destructor asks
        const bool wanted_input = (socket_events & POLLIN) != 0;
        if (wanted_input && (fds[socket_index].revents & (POLLIN | POLLHUP | POLLERR))) {
            const ssize_t got = ::read(pump_end_.get(), buffer.data(), buffer.size());
            if (got > 0)
                to_channel.assign(buffer.data(), static_cast<size_t>(got));
            else if (got == 0 || (errno != EAGAIN && errno != EINTR))
                caller_done = true;
        }
    }
}

} // namespace lcloud::ssh

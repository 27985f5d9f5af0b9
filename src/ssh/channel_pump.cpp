#include "ssh/channel_pump.hpp"

#include "common/error.hpp"
#include "ssh/errors.hpp"

#include <array>
#include <cerrno>
#include <csignal>
#include <cstring>
#include <poll.h>
#include <unistd.h>

namespace lcloud::ssh {

namespace {

int signal_number(const std::string& name) {
    for (int number = 1; number < NSIG; ++number) {
        const char* abbreviation = ::sigabbrev_np(number);
        if (abbreviation && name == abbreviation) return number;
    }
    return 0;
}

// Reads what `fd` has; 0 at end of file. A terminal whose other side went away reads EIO:
// that is its end of file too.
ssize_t read_some(int fd, char* buffer, size_t size) {
    for (;;) {
        const ssize_t count = ::read(fd, buffer, size);
        if (count >= 0) return count;
        if (errno == EINTR) continue;
        if (errno == EAGAIN) return -1;
        if (errno == EIO) return 0;
        throw_errno("read", "the command's input");
    }
}

} // namespace

ChannelExit::ChannelExit(ssh_channel channel) : channel_(channel) {
    callbacks_.userdata = this;
    callbacks_.channel_exit_status_function = &ChannelExit::on_status;
    callbacks_.channel_exit_signal_function = &ChannelExit::on_signal;
    ssh_callbacks_init(&callbacks_);
    ssh_add_channel_callbacks(channel, &callbacks_);
}

ChannelExit::~ChannelExit() {
    ssh_remove_channel_callbacks(channel_, &callbacks_);
}

int ChannelExit::code() const {
    if (status_ >= 0) return status_;
    const int number = signal_number(signal_);
    return number > 0 ? 128 + number : 255;
}

void ChannelExit::on_status(ssh_session, ssh_channel, int status, void* self) {
    static_cast<ChannelExit*>(self)->status_ = status;
}

void ChannelExit::on_signal(ssh_session, ssh_channel, const char* signal, int, const char*,
                            const char*, void* self) {
    static_cast<ChannelExit*>(self)->signal_ = signal ? signal : "";
}

void write_fd(int fd, std::string_view bytes) {
    if (fd < 0) return;
    while (!bytes.empty()) {
        const ssize_t written = ::write(fd, bytes.data(), bytes.size());
        if (written >= 0) {
            bytes.remove_prefix(static_cast<size_t>(written));
        } else if (errno == EAGAIN) {
            pollfd wait{fd, POLLOUT, 0};
            ::poll(&wait, 1, -1);
        } else if (errno != EINTR) {
            throw_errno("write", "the command's output");
        }
    }
}

int pump_channel(ssh_session session, ssh_channel channel, const ChannelExit& exit,
                 const std::string& where, PumpEnds& ends) {
    std::array<char, 32768> buffer;
    std::string from_fd; // read from in_fd, not yet sent
    std::string_view pending = ends.in_fd < 0 ? ends.input : std::string_view();
    bool input_done = ends.in_fd < 0;
    bool eof_sent = false;
    for (;;) {
        // Empty libssh's buffers first: poll() below only sees what is still in the socket.
        for (bool progressed = true; progressed;) {
            progressed = false;
            for (const int is_stderr : {0, 1}) {
                const int count =
                    ssh_channel_read_nonblocking(channel, buffer.data(), buffer.size(), is_stderr);
                if (count == SSH_ERROR)
                    throw SshError(where, "read command output", ssh_get_error(session));
                if (count <= 0) continue;
                const std::string_view data(buffer.data(), static_cast<size_t>(count));
                (is_stderr ? ends.on_err : ends.on_out)(data);
                progressed = true;
            }
        }
        if (ssh_channel_is_eof(channel) || ssh_channel_is_closed(channel)) break;

        // Send stdin only as far as the server's window allows, so a write never blocks.
        const uint32_t window = ssh_channel_window_size(channel);
        if (!pending.empty() && window > 0) {
            const size_t size = std::min<size_t>({pending.size(), window, buffer.size()});
            const int written = ssh_channel_write(channel, pending.data(), size);
            if (written == SSH_ERROR)
                throw SshError(where, "send command input", ssh_get_error(session));
            pending.remove_prefix(static_cast<size_t>(written));
        }
        if (pending.empty() && input_done && !eof_sent) {
            if (ssh_channel_send_eof(channel) == SSH_ERROR)
                throw SshError(where, "send end of input", ssh_get_error(session));
            eof_sent = true;
        }

        std::array<pollfd, 3> fds{};
        nfds_t count = 0;
        fds[count++] = {ssh_get_fd(session), POLLIN, 0};
        const bool want_input = !input_done && pending.empty();
        if (want_input) fds[count++] = {ends.in_fd, POLLIN, 0};
        const bool want_wake = ends.wake_fd >= 0;
        if (want_wake) fds[count++] = {ends.wake_fd, POLLIN, 0};
        // Short while stdin waits for the window: its adjustment may already have been parsed.
        const int timeout = !pending.empty() ? 50 : 1000;
        if (::poll(fds.data(), count, timeout) < 0 && errno != EINTR)
            throw_errno("poll", "the connection to " + where);

        if (want_input && fds[1].revents != 0) {
            const ssize_t got = read_some(ends.in_fd, buffer.data(), buffer.size());
            if (got == 0) input_done = true;
            if (got > 0) {
                from_fd.assign(buffer.data(), static_cast<size_t>(got));
                pending = from_fd;
            }
        }
        if (want_wake && fds[count - 1].revents != 0) {
            while (::read(ends.wake_fd, buffer.data(), buffer.size()) > 0) {
            }
            if (ends.on_wake) ends.on_wake();
        }
    }

    // The exit status follows the output; closing without one means the server lost the command.
    while (!exit.known() && !ssh_channel_is_closed(channel)) {
        ssh_channel_get_exit_status(channel);
        if (!ssh_is_connected(session))
            throw SshError(where, "wait for the command's exit", ssh_get_error(session));
    }
    if (!exit.known())
        throw SshError(where, "wait for the command's exit",
                       "the server closed the channel without an exit status");
    return exit.code();
}

} // namespace lcloud::ssh

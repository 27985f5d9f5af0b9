#include "common/error.hpp"
#include "common/fd.hpp"
#include "ssh/channel_pump.hpp"
#include "ssh/errors.hpp"
#include "ssh/session.hpp"

#include <atomic>
#include <cerrno>
#include <csignal>
#include <cstdlib>
#include <fcntl.h>
#include <sys/ioctl.h>
#include <termios.h>
#include <unistd.h>

namespace lcloud::ssh {

namespace {

// The terminal in raw mode for the guard's lifetime, so that keys (Ctrl-C too) go to the remote
// side; restored on every way out. Not a terminal: left alone.
class RawMode {
  public:
    explicit RawMode(int fd) : fd_(fd) {
        if (::tcgetattr(fd, &saved_) != 0) return;
        termios raw = saved_;
        ::cfmakeraw(&raw);
        if (::tcsetattr(fd, TCSADRAIN, &raw) != 0) throw_errno("set raw mode on", "the terminal");
        active_ = true;
    }
    RawMode(const RawMode&) = delete;
    RawMode& operator=(const RawMode&) = delete;
    ~RawMode() {
        if (active_) ::tcsetattr(fd_, TCSADRAIN, &saved_);
    }

  private:
    int fd_;
    termios saved_{};
    bool active_ = false;
};

std::atomic<int> winch_write_fd{-1};

void on_winch(int) {
    const int saved_errno = errno;
    const int fd = winch_write_fd.load();
    // A full pipe already holds a pending change.
    if (fd >= 0 && ::write(fd, "w", 1) < 0) errno = saved_errno;
    errno = saved_errno;
}

// Turns SIGWINCH into a readable pipe for the pump's poll(); the previous handler comes back.
class WindowChanges {
  public:
    WindowChanges() {
        int fds[2];
        if (::pipe2(fds, O_CLOEXEC | O_NONBLOCK) != 0) throw_errno("create", "a pipe");
        read_end_.reset(fds[0]);
        write_end_.reset(fds[1]);
        previous_fd_ = winch_write_fd.exchange(write_end_.get());
        struct sigaction action {};
        action.sa_handler = &on_winch;
        action.sa_flags = SA_RESTART;
        sigemptyset(&action.sa_mask);
        ::sigaction(SIGWINCH, &action, &previous_);
    }
    WindowChanges(const WindowChanges&) = delete;
    WindowChanges& operator=(const WindowChanges&) = delete;
    ~WindowChanges() {
        ::sigaction(SIGWINCH, &previous_, nullptr);
        winch_write_fd.store(previous_fd_);
    }
    int fd() const { return read_end_.get(); }

  private:
    Fd read_end_;
    Fd write_end_;
    int previous_fd_ = -1;
    struct sigaction previous_ {};
};

winsize window_size(int fd) {
    winsize size{};
    if (::ioctl(fd, TIOCGWINSZ, &size) != 0 || size.ws_col == 0 || size.ws_row == 0) {
        size.ws_col = 80;
        size.ws_row = 24;
    }
    return size;
}

} // namespace

int Session::interactive(const std::optional<std::string>& command, int terminal_fd) {
    const ChannelHandle channel = open_channel();
    const ChannelExit exit(channel.get());
    const char* term = std::getenv("TERM");
    const winsize size = window_size(terminal_fd);
    if (ssh_channel_request_pty_size(channel.get(), term && *term ? term : "xterm", size.ws_col,
                                     size.ws_row) != SSH_OK)
        throw SshError(where_, "request a terminal", ssh_get_error(session_.get()));
    const int started = command ? ssh_channel_request_exec(channel.get(), command->c_str())
                                : ssh_channel_request_shell(channel.get());
    if (started != SSH_OK)
        throw SshError(where_, command ? "run '" + *command + "'" : "start a shell",
                       ssh_get_error(session_.get()));

    const WindowChanges window_changes;
    const RawMode raw(terminal_fd);
    PumpEnds ends;
    ends.in_fd = terminal_fd;
    // A terminal merges the streams; the server sends stderr apart only for some commands.
    ends.on_out = [terminal_fd](std::string_view data) { write_fd(terminal_fd, data); };
    ends.on_err = ends.on_out;
    ends.wake_fd = window_changes.fd();
    ends.on_wake = [&] {
        const winsize now = window_size(terminal_fd);
        // Best effort: a lost resize only leaves the remote layout stale.
        ssh_channel_change_pty_size(channel.get(), now.ws_col, now.ws_row);
    };
    return pump_channel(session_.get(), channel.get(), exit, where_, ends);
}

} // namespace lcloud::ssh

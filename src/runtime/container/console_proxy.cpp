#include "runtime/container/console_proxy.hpp"

#include "common/error.hpp"

#include <cerrno>
#include <cstring>
#include <poll.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

namespace lcloud::runtime {

namespace {

// False at end of input or when the other side is gone.
bool copy_some(int from, int to) {
    char buffer[16384];
    const ssize_t count = ::read(from, buffer, sizeof buffer);
    if (count <= 0) return count < 0 && (errno == EINTR || errno == EAGAIN);
    for (ssize_t done = 0; done < count;) {
        const ssize_t written = ::write(to, buffer + done, static_cast<size_t>(count - done));
        if (written < 0) {
            if (errno == EINTR) continue;
            return false;
        }
        done += written;
    }
    return true;
}

} // namespace

ConsoleProxy::ConsoleProxy() {
    int ends[2];
    if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, ends) != 0)
        throw_errno("create", "console socket pair");
    runtime_end_ = Fd(ends[0]);
    container_end_ = Fd(ends[1]);
}

ConsoleProxy::~ConsoleProxy() {
    if (saved_) ::tcsetattr(STDIN_FILENO, TCSANOW, &*saved_);
}

void ConsoleProxy::receive_master() {
    container_end_.reset();
    char data;
    iovec io{&data, 1};
    char control[CMSG_SPACE(sizeof(int))] = {};
    msghdr message{};
    message.msg_iov = &io;
    message.msg_iovlen = 1;
    message.msg_control = control;
    message.msg_controllen = sizeof control;
    if (::recvmsg(runtime_end_.get(), &message, MSG_CMSG_CLOEXEC) <= 0)
        throw_errno("receive the container's terminal over", "console socket");
    const cmsghdr* header = CMSG_FIRSTHDR(&message);
    if (!header || header->cmsg_type != SCM_RIGHTS)
        throw Error("the container's process sent no terminal over the console socket");
    int fd;
    std::memcpy(&fd, CMSG_DATA(header), sizeof fd);
    master_ = Fd(fd);
    termios settings{};
    if (::tcgetattr(STDIN_FILENO, &settings) == 0) {
        saved_ = settings;
        winsize size{};
        if (::ioctl(STDIN_FILENO, TIOCGWINSZ, &size) == 0)
            ::ioctl(master_.get(), TIOCSWINSZ, &size);
        ::cfmakeraw(&settings);
        ::tcsetattr(STDIN_FILENO, TCSANOW, &settings);
    }
}

void ConsoleProxy::pump() {
    pollfd fds[2] = {{master_.get(), POLLIN, 0}, {STDIN_FILENO, POLLIN, 0}};
    for (;;) {
        if (::poll(fds, 2, -1) < 0) {
            if (errno == EINTR) continue;
            throw_errno("wait on", "the container's terminal");
        }
        // The master reports EIO once every holder of the terminal's slave has exited.
        if (fds[0].revents & (POLLIN | POLLHUP | POLLERR))
            if (!copy_some(master_.get(), STDOUT_FILENO)) return;
        if (fds[1].revents & (POLLIN | POLLHUP | POLLERR))
            if (!copy_some(STDIN_FILENO, master_.get())) fds[1].fd = -1; // stdin ended
    }
}

} // namespace lcloud::runtime

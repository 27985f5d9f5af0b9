#include "agent/server/attach.hpp"

#include "common/error.hpp"
#include "common/fd.hpp"

#include <cstring>
#include <iostream>
#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

namespace lcloud::agent {

namespace {

bool copy_some(int from, int to) {
    char buffer[65536];
    const ssize_t got = ::read(from, buffer, sizeof buffer);
    if (got <= 0) return false;
    for (ssize_t done = 0; done < got;) {
        const ssize_t written = ::write(to, buffer + done, static_cast<size_t>(got - done));
        if (written <= 0) return false;
        done += written;
    }
    return true;
}

} // namespace

int attach_stdio(const std::filesystem::path& socket_path) {
    Fd socket_fd(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
    sockaddr_un address{};
    address.sun_family = AF_UNIX;
    std::strncpy(address.sun_path, socket_path.c_str(), sizeof address.sun_path - 1);
    if (!socket_fd ||
        ::connect(socket_fd.get(), reinterpret_cast<sockaddr*>(&address), sizeof address) != 0) {
        std::cerr << "lcloud-agent: attach: cannot connect to " << socket_path.string() << ": "
                  << std::strerror(errno) << "; is 'lcloud-agent serve' running?\n";
        return 1;
    }
    pollfd fds[2] = {{STDIN_FILENO, POLLIN, 0}, {socket_fd.get(), POLLIN, 0}};
    for (;;) {
        if (::poll(fds, 2, -1) < 0) {
            if (errno == EINTR) continue;
            return 1;
        }
        if (fds[0].revents) {
            if (!copy_some(STDIN_FILENO, socket_fd.get())) {
                ::shutdown(socket_fd.get(), SHUT_WR);
                fds[0].fd = -1;
            }
        }
        if (fds[1].revents && !copy_some(socket_fd.get(), STDOUT_FILENO)) return 0;
    }
}

} // namespace lcloud::agent

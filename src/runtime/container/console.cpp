#include "runtime/container/console.hpp"

#include "common/error.hpp"

#include <cstring>
#include <fcntl.h>
#include <fmt/format.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <termios.h>
#include <unistd.h>

namespace lcloud::runtime {

Fd connect_console_socket(const std::filesystem::path& path) {
    Fd fd(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
    if (!fd) throw_errno("create socket for", path.string());
    sockaddr_un address{};
    address.sun_family = AF_UNIX;
    if (path.string().size() >= sizeof address.sun_path)
        throw Error(fmt::format("console socket path {} is too long", path.string()));
    std::strcpy(address.sun_path, path.c_str());
    if (::connect(fd.get(), reinterpret_cast<sockaddr*>(&address), sizeof address) != 0)
        throw_errno("connect to console socket", path.string());
    return fd;
}

static void send_fd(int socket, int fd) {
    char data = 'P';
    iovec io{&data, 1};
    char control[CMSG_SPACE(sizeof(int))] = {};
    msghdr message{};
    message.msg_iov = &io;
    message.msg_iovlen = 1;
    message.msg_control = control;
    message.msg_controllen = sizeof control;
    cmsghdr* header = CMSG_FIRSTHDR(&message);
    header->cmsg_level = SOL_SOCKET;
    header->cmsg_type = SCM_RIGHTS;
    header->cmsg_len = CMSG_LEN(sizeof(int));
    std::memcpy(CMSG_DATA(header), &fd, sizeof(int));
    if (::sendmsg(socket, &message, 0) < 0) throw_errno("send terminal over", "console socket");
}

void setup_terminal(int socket, const std::optional<oci::ConsoleSize>& size) {
    Fd master(::open("/dev/ptmx", O_RDWR | O_NOCTTY | O_CLOEXEC));
    if (!master) throw_errno("open", "/dev/ptmx");
    int unlock = 0, number = 0;
    if (::ioctl(master.get(), TIOCSPTLCK, &unlock) != 0) throw_errno("unlock", "/dev/ptmx");
    if (::ioctl(master.get(), TIOCGPTN, &number) != 0) throw_errno("query", "/dev/ptmx");
    const std::string slave_path = fmt::format("/dev/pts/{}", number);
    Fd slave(::open(slave_path.c_str(), O_RDWR | O_NOCTTY));
    if (!slave) throw_errno("open", slave_path);
    if (size) {
        winsize window{static_cast<unsigned short>(size->height),
                       static_cast<unsigned short>(size->width), 0, 0};
        ::ioctl(slave.get(), TIOCSWINSZ, &window);
    }
    send_fd(socket, master.get());
    if (::setsid() < 0) throw_errno("start session for", slave_path);
    if (::ioctl(slave.get(), TIOCSCTTY, 0) != 0)
        throw_errno("make controlling terminal", slave_path);
    for (int target : {STDIN_FILENO, STDOUT_FILENO, STDERR_FILENO})
        if (::dup2(slave.get(), target) < 0) throw_errno("attach terminal", slave_path);
}

} // namespace lcloud::runtime

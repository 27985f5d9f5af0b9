#pragma once

// Real sockets on 127.0.0.1 for the forwarder tests: an echo "VM" in a child process, a child
// that holds ports, and cleanup that leaves no forwarder behind, pass or fail.

#include "agent/ports/forwards_file.hpp"
#include "agent/ports/port_owner.hpp"
#include "common/fd.hpp"
#include "providers/forward/forwarder.hpp"
#include "state/atomic_file.hpp"
#include "support/child_guard.hpp"

#include <arpa/inet.h>
#include <cerrno>
#include <chrono>
#include <fcntl.h>
#include <filesystem>
#include <functional>
#include <map>
#include <netinet/in.h>
#include <poll.h>
#include <stdexcept>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <thread>
#include <unistd.h>
#include <vector>

namespace lcloud::test {

inline Fd bind_loopback(int type, uint16_t port) {
    Fd fd(::socket(AF_INET, type | SOCK_CLOEXEC, 0));
    const int one = 1;
    ::setsockopt(fd.get(), SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_port = htons(port);
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (::bind(fd.get(), reinterpret_cast<sockaddr*>(&address), sizeof address) != 0) return Fd();
    if (type == SOCK_STREAM && ::listen(fd.get(), 64) != 0) return Fd();
    return fd;
}

// Forks a child named `name` that runs `body` and never returns. Returns once the child has its
// name: a test that looks for it by name must not see the parent's.
inline pid_t fork_child(const char* name, const std::function<void()>& body) {
    int named[2];
    if (::pipe2(named, O_CLOEXEC) != 0) throw std::runtime_error("fork_child: pipe");
    const pid_t pid = ::fork();
    if (pid != 0) {
        ::close(named[1]);
        char byte = 0;
        while (pid > 0 && ::read(named[0], &byte, 1) < 0 && errno == EINTR) {
        }
        ::close(named[0]);
        return pid;
    }
    ::close(named[0]);
    ::prctl(PR_SET_NAME, name);
    ::close(named[1]);
    body();
    ::_exit(0);
}

// The "VM": echoes TCP (many connections at once; EOF answered by closing) and UDP on 127.0.0.1.
class EchoServer {
  public:
    EchoServer(uint16_t tcp_port, uint16_t udp_port) {
        Fd tcp = bind_loopback(SOCK_STREAM, tcp_port);
        Fd udp = bind_loopback(SOCK_DGRAM, udp_port);
        if (!tcp || !udp) throw std::runtime_error("echo server: cannot bind");
        child_.emplace(fork_child("echo-vm", [&] { serve(tcp.get(), udp.get()); }));
    }
    void stop() { child_.reset(); }

  private:
    static void serve(int tcp, int udp) {
        std::vector<pollfd> fds{{tcp, POLLIN, 0}, {udp, POLLIN, 0}};
        char buffer[65536];
        for (;;) {
            if (::poll(fds.data(), fds.size(), -1) < 0) continue;
            if (fds[0].revents) fds.push_back({::accept(tcp, nullptr, nullptr), POLLIN, 0});
            if (fds[1].revents) {
                sockaddr_storage from{};
                socklen_t length = sizeof from;
                const ssize_t got = ::recvfrom(udp, buffer, sizeof buffer, 0,
                                               reinterpret_cast<sockaddr*>(&from), &length);
                if (got > 0)
                    ::sendto(udp, buffer, got, 0, reinterpret_cast<sockaddr*>(&from), length);
            }
            for (size_t i = 2; i < fds.size(); ++i) {
                if (!fds[i].revents) continue;
                const ssize_t got = ::read(fds[i].fd, buffer, sizeof buffer);
                if (got > 0 && ::write(fds[i].fd, buffer, got) == got) continue;
                ::close(fds[i].fd);
                fds.erase(fds.begin() + static_cast<long>(i--));
            }
        }
    }
    std::optional<ChildGuard> child_;
};

// A child process named `name` holding TCP and UDP ports on 127.0.0.1.
class PortHolder {
  public:
    PortHolder(const char* name, uint16_t tcp_port, uint16_t udp_port)
        : tcp_(bind_loopback(SOCK_STREAM, tcp_port)), udp_(bind_loopback(SOCK_DGRAM, udp_port)),
          child_(fork_child(name, [] { ::pause(); })) {
        // The parent's copies go, so that only the child holds them.
        tcp_.reset();
        udp_.reset();
    }
    pid_t pid() const { return child_.pid(); }

  private:
    Fd tcp_, udp_;
    ChildGuard child_;
};

// Stops the environment's forwarder when the test ends, however it ends.
class ForwarderCleanup {
  public:
    explicit ForwarderCleanup(std::filesystem::path state_dir) : state_dir_(std::move(state_dir)) {}
    ~ForwarderCleanup() {
        try {
            providers::forward::stop_forwarder(state_dir_);
        } catch (...) {
        }
    }

  private:
    std::filesystem::path state_dir_;
};

// Processes whose command line names `state_dir` (what a forwarder of it would be).
inline std::vector<pid_t> processes_naming(const std::filesystem::path& state_dir) {
    std::vector<pid_t> out;
    const std::string wanted = state_dir.string();
    for (const auto& entry : std::filesystem::directory_iterator("/proc")) {
        const std::string name = entry.path().filename();
        if (name.find_first_not_of("0123456789") != std::string::npos) continue;
        const auto cmdline = state::read_file(entry.path() / "cmdline");
        if (cmdline && cmdline->find(wanted) != std::string::npos) out.push_back(std::stoi(name));
    }
    return out;
}

inline bool wait_for(const std::function<bool()>& done,
                     std::chrono::milliseconds timeout = std::chrono::seconds(5)) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    while (std::chrono::steady_clock::now() < deadline) {
        if (done()) return true;
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    return done();
}

inline std::optional<pid_t> port_holder(agent::Protocol protocol, uint16_t port) {
    const auto owner = agent::find_port_owner({protocol, "127.0.0.1", port, "", 0});
    if (!owner) return std::nullopt;
    return owner->pid;
}

} // namespace lcloud::test

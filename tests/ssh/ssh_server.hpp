#pragma once

#include "support/child_guard.hpp"
#include "support/run_command.hpp"
#include "support/temp_dir.hpp"

#include <arpa/inet.h>
#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstdint>
#include <cstring>
#include <fcntl.h>
#include <filesystem>
#include <fstream>
#include <netinet/in.h>
#include <optional>
#include <sched.h>
#include <sstream>
#include <stdexcept>
#include <string>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <thread>
#include <unistd.h>
#include <vector>

namespace lcloud::test {

// A real SSH server for tests: dropbear on 127.0.0.1 and a free port, accepting the keys in
// `authorized_keys` for root. It runs in its own mount namespace, where a temporary home is
// bound over /root (or a temporary .ssh over /root/.ssh), so the real /root/.ssh is never
// touched; and as PID 1 of its own PID namespace, so that killing it also kills every session
// process it started. The destructor kills and reaps it, pass or fail.
class SshServer {
  public:
    // `host_key`: a dropbear key file to serve; empty: a new ed25519 key. `forwarding`: allow
    // direct-tcpip channels (as the box's dropbear does).
    explicit SshServer(const std::string& authorized_keys,
                       const std::filesystem::path& host_key = {}, bool forwarding = false)
        : forwarding_(forwarding) {
        namespace fs = std::filesystem;
        host_key_ = host_key.empty() ? dir_.path() / "host_key" : host_key;
        if (host_key.empty()) {
            const CommandResult made =
                run_command("/usr/bin/dropbearkey -t ed25519 -f " + host_key_.string());
            if (made.exit_code != 0) throw std::runtime_error("dropbearkey: " + made.output);
        }
        const CommandResult shown =
            run_command("/usr/bin/dropbearkey -y -f " + host_key_.string(), true);
        std::istringstream lines(shown.output);
        for (std::string line; std::getline(lines, line);)
            if (line.starts_with("ssh-")) host_public_key_ = line;
        if (host_public_key_.empty()) throw std::runtime_error("dropbearkey -y: " + shown.output);

        const fs::path home = dir_.path() / "home";
        fs::create_directories(home / ".ssh");
        fs::permissions(home, fs::perms::owner_all);
        fs::permissions(home / ".ssh", fs::perms::owner_all);
        std::ofstream(home / ".ssh" / "authorized_keys") << authorized_keys << "\n";
        fs::permissions(home / ".ssh" / "authorized_keys",
                        fs::perms::owner_read | fs::perms::owner_write);
        // Over /root/.ssh when it exists, else over /root: a bind mount needs its mount point.
        std::error_code error;
        const bool has_ssh_dir = fs::is_directory("/root/.ssh", error);
        bind_source_ = (has_ssh_dir ? home / ".ssh" : home).string();
        bind_target_ = has_ssh_dir ? "/root/.ssh" : "/root";

        // A port found free may be taken before dropbear binds it: then try another.
        for (int attempt = 0; attempt < 5; ++attempt) {
            port_ = free_port();
            if (start()) return;
            child_.reset();
        }
        throw std::runtime_error("dropbear did not start: " + log());
    }
    SshServer(const SshServer&) = delete;
    SshServer& operator=(const SshServer&) = delete;

    std::string host() const { return "127.0.0.1"; }
    uint16_t port() const { return port_; }
    pid_t pid() const { return child_ ? child_->pid() : 0; }
    const std::filesystem::path& host_key() const { return host_key_; }
    // "ssh-ed25519 AAAA... comment", for pinning.
    const std::string& host_public_key() const { return host_public_key_; }
    // What dropbear logged, for failure messages.
    std::string log() const {
        std::ifstream file(dir_.path() / "dropbear.log");
        return std::string(std::istreambuf_iterator<char>(file), {});
    }
    // Kills the server and everything in its PID namespace; waits until they are gone.
    void stop() { child_.reset(); }

  private:
    static uint16_t free_port() {
        const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        sockaddr_in address{};
        address.sin_family = AF_INET;
        address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        socklen_t length = sizeof address;
        if (fd < 0 || ::bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof address) != 0 ||
            ::getsockname(fd, reinterpret_cast<sockaddr*>(&address), &length) != 0) {
            if (fd >= 0) ::close(fd);
            throw std::runtime_error("no free port");
        }
        ::close(fd);
        return ntohs(address.sin_port);
    }

    static bool accepts(uint16_t port) {
        const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        sockaddr_in address{};
        address.sin_family = AF_INET;
        address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        address.sin_port = htons(port);
        const bool connected =
            ::connect(fd, reinterpret_cast<sockaddr*>(&address), sizeof address) == 0;
        ::close(fd);
        return connected;
    }

    // Starts dropbear; false when it exited before accepting connections.
    bool start() {
        const std::string listen = "127.0.0.1:" + std::to_string(port_);
        const std::string pid_file = (dir_.path() / "dropbear.pid").string();
        std::vector<std::string> args = {
            "/usr/sbin/dropbear", "-F", "-E",    "-s", "-j", "-k", "-p", listen, "-r",
            host_key_.string(),   "-P", pid_file};
        if (forwarding_) std::erase(args, std::string("-j"));
        std::vector<char*> argv;
        for (std::string& arg : args)
            argv.push_back(arg.data());
        argv.push_back(nullptr);
        const std::string log_path = (dir_.path() / "dropbear.log").string();
        const int log_fd =
            ::open(log_path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
        const int null_fd = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
        if (log_fd < 0 || null_fd < 0) throw std::runtime_error("open dropbear log");
        // Like fork(), but the child is PID 1 of a new PID namespace, in a new mount namespace.
        // Only system calls until exec: this process may have threads.
        const long pid = ::syscall(SYS_clone, CLONE_NEWNS | CLONE_NEWPID | SIGCHLD, nullptr,
                                   nullptr, nullptr, nullptr);
        if (pid == 0) {
            // Also when this test process dies without running destructors.
            ::prctl(PR_SET_PDEATHSIG, SIGKILL);
            ::dup2(null_fd, 0);
            ::dup2(log_fd, 1);
            ::dup2(log_fd, 2);
            const char* failed = nullptr;
            if (::mount(nullptr, "/", nullptr, MS_REC | MS_PRIVATE, nullptr) != 0)
                failed = "make mounts private";
            else if (::mount(bind_source_.c_str(), bind_target_.c_str(), nullptr, MS_BIND,
                             nullptr) != 0)
                failed = "bind the test home";
            else
                ::execv(argv[0], argv.data());
            const char* what = failed ? failed : "exec dropbear";
            [[maybe_unused]] ssize_t ignored = ::write(2, what, std::strlen(what));
            ignored = ::write(2, ": ", 2);
            ignored = ::write(2, std::strerror(errno), std::strlen(std::strerror(errno)));
            ::_exit(127);
        }
        const int clone_errno = errno;
        ::close(log_fd);
        ::close(null_fd);
        if (pid < 0)
            throw std::runtime_error(std::string("clone for dropbear: ") +
                                     std::strerror(clone_errno));
        child_.emplace(static_cast<pid_t>(pid));
        const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
        while (std::chrono::steady_clock::now() < deadline) {
            // WNOWAIT: an exited child stays for ChildGuard to reap.
            siginfo_t info{};
            if (::waitid(P_PID, static_cast<id_t>(child_->pid()), &info,
                         WEXITED | WNOHANG | WNOWAIT) == 0 &&
                info.si_pid != 0)
                return false;
            if (accepts(port_)) return true;
            std::this_thread::sleep_for(std::chrono::milliseconds(20));
        }
        return false;
    }

    bool forwarding_ = false;
    TempDir dir_;
    std::filesystem::path host_key_;
    std::string host_public_key_;
    std::string bind_source_;
    std::string bind_target_;
    uint16_t port_ = 0;
    std::optional<ChildGuard> child_;
};

} // namespace lcloud::test

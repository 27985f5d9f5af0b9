#pragma once

// What the network tests share: a fixture that removes every network it named (and puts
// ip_forward back) pass or fail, processes alone in a network namespace, children that run TCP
// inside such a namespace and report by exit code, and the JSON of `ip -j` and `nft -j`.

#include "common/fd.hpp"
#include "runtime/network/network.hpp"
#include "support/child_guard.hpp"
#include "support/run_command.hpp"
#include "support/temp_dir.hpp"

#include <arpa/inet.h>
#include <cerrno>
#include <chrono>
#include <csignal>
#include <fcntl.h>
#include <filesystem>
#include <fmt/format.h>
#include <fstream>
#include <functional>
#include <memory>
#include <netinet/in.h>
#include <nlohmann/json.hpp>
#include <optional>
#include <poll.h>
#include <sched.h>
#include <stdexcept>
#include <string>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <thread>
#include <unistd.h>
#include <vector>

namespace lcloud::test::network {

namespace net = lcloud::runtime::network;

inline std::string read_ip_forward() {
    std::ifstream file("/proc/sys/net/ipv4/ip_forward");
    std::string value;
    file >> value;
    return value;
}

inline void write_ip_forward(const std::string& value) {
    std::ofstream("/proc/sys/net/ipv4/ip_forward") << value << "\n";
}

inline bool other_lcloud_bridge_exists() {
    std::error_code error;
    for (const auto& entry : std::filesystem::directory_iterator("/sys/class/net", error))
        if (entry.path().filename().string().rfind("lcbr-", 0) == 0) return true;
    return false;
}

// Network names unique to this run, so tests never meet each other's (or an agent's) networks.
inline std::string unique_name(const std::string& tag) {
    static int counter = 0;
    return fmt::format("lctest-{}-{}-{}", tag, ::getpid(), ++counter);
}

// A state directory, a Networks on it, and the removal of every network it named.
class NetworkFixture {
  public:
    explicit NetworkFixture(net::Subnet pool)
        : options{dir_.path() / "state", pool}, networks(options),
          ip_forward_before_(read_ip_forward()) {}
    NetworkFixture(const NetworkFixture&) = delete;
    NetworkFixture& operator=(const NetworkFixture&) = delete;
    ~NetworkFixture() {
        for (const std::string& name : names_) {
            try {
                networks.remove(name);
            } catch (const std::exception& error) {
                std::fprintf(stderr, "cleanup: remove network %s: %s\n", name.c_str(),
                             error.what());
            }
        }
        // ensure() turns forwarding on for good; the test machine gets its setting back, unless
        // another lcloud network (someone else's test, an agent) now relies on it.
        if (ip_forward_before_ == "0" && !other_lcloud_bridge_exists()) write_ip_forward("0");
    }

    // A fresh network name, removed when the fixture ends.
    std::string name(const std::string& tag) {
        names_.push_back(unique_name(tag));
        return names_.back();
    }

  private:
    TempDir dir_;

  public:
    net::PlanOptions options;
    net::Networks networks;

  private:
    std::string ip_forward_before_;
    std::vector<std::string> names_;
};

// A forked process; wait() takes its exit code, the destructor kills and reaps it otherwise.
class Worker {
  public:
    explicit Worker(pid_t pid) : pid_(pid) {}
    Worker(const Worker&) = delete;
    Worker& operator=(const Worker&) = delete;
    ~Worker() {
        if (pid_ > 0) {
            ::kill(pid_, SIGKILL);
            while (::waitpid(pid_, nullptr, 0) < 0 && errno == EINTR) {
            }
        }
    }
    pid_t pid() const { return pid_; }
    // The exit code, 128 + signal, or -1 when it runs past the timeout (then it is killed).
    int wait(std::chrono::milliseconds timeout = std::chrono::seconds(5)) {
        const auto deadline = std::chrono::steady_clock::now() + timeout;
        int status = 0;
        for (;;) {
            const pid_t done = ::waitpid(pid_, &status, WNOHANG);
            if (done == pid_) break;
            if (done < 0 && errno != EINTR) return -1;
            if (std::chrono::steady_clock::now() > deadline) return -1;
            std::this_thread::sleep_for(std::chrono::milliseconds(5));
        }
        pid_ = 0;
        return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    }

  private:
    pid_t pid_;
};

// Forks a child that runs `body` (in the network namespace of `netns_pid` when it is > 0) and
// exits with what it returns; 100 when setns fails, 101 on an exception.
inline std::unique_ptr<Worker> run_child(pid_t netns_pid, const std::function<int()>& body) {
    const pid_t pid = ::fork();
    if (pid < 0) throw std::runtime_error("fork failed");
    if (pid == 0) {
        ::prctl(PR_SET_PDEATHSIG, SIGKILL);
        int code = 101;
        try {
            if (netns_pid > 0) {
                const std::string path = fmt::format("/proc/{}/ns/net", netns_pid);
                const Fd netns(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
                if (!netns || ::setns(netns.get(), CLONE_NEWNET) != 0) ::_exit(100);
            }
            code = body();
        } catch (...) {
        }
        ::_exit(code);
    }
    return std::make_unique<Worker>(pid);
}

// A process alone in a new, empty network namespace, as a container's init would be; killed
// and reaped when the object ends.
class NetnsProcess {
  public:
    NetnsProcess() {
        int ready[2];
        if (::pipe2(ready, O_CLOEXEC) != 0) throw std::runtime_error("pipe2 failed");
        Fd read_end(ready[0]), write_end(ready[1]);
        const pid_t pid = ::fork();
        if (pid < 0) throw std::runtime_error("fork failed");
        if (pid == 0) {
            ::prctl(PR_SET_PDEATHSIG, SIGKILL);
            const char ok = ::unshare(CLONE_NEWNET) == 0 ? 'y' : 'n';
            if (::write(write_end.get(), &ok, 1) != 1 || ok != 'y') ::_exit(1);
            for (;;)
                ::pause();
        }
        guard_ = std::make_unique<ChildGuard>(pid);
        write_end.reset();
        char ok = 0;
        if (::read(read_end.get(), &ok, 1) != 1 || ok != 'y')
            throw std::runtime_error("the child could not unshare its network namespace");
    }
    pid_t pid() const { return guard_->pid(); }
    std::string netns_path() const { return fmt::format("/proc/{}/ns/net", pid()); }

  private:
    std::unique_ptr<ChildGuard> guard_;
};

// Exit codes of the TCP children.
enum TcpResult : int {
    tcp_ok = 0,
    tcp_timeout = 10,
    tcp_refused = 11,
    tcp_error = 12,
    tcp_wrong_data = 13,
    tcp_wrong_peer = 14,
};

inline bool wait_readable(int fd, int timeout_ms) {
    pollfd entry{fd, POLLIN, 0};
    return ::poll(&entry, 1, timeout_ms) == 1;
}

// Listens on address:port, tells `ready_fd` it does, accepts one connection (which must come
// from `peer` when one is given) and expects `expected` on it.
inline int tcp_receive(net::Ipv4 address, uint16_t port, const std::string& expected, int ready_fd,
                       int timeout_ms, std::optional<net::Ipv4> peer) {
    const Fd listener(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
    const int one = 1;
    ::setsockopt(listener.get(), SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    sockaddr_in local{};
    local.sin_family = AF_INET;
    local.sin_port = htons(port);
    local.sin_addr.s_addr = htonl(address.value);
    if (::bind(listener.get(), reinterpret_cast<sockaddr*>(&local), sizeof local) != 0 ||
        ::listen(listener.get(), 4) != 0)
        return tcp_error;
    if (::write(ready_fd, "r", 1) != 1) return tcp_error;
    if (!wait_readable(listener.get(), timeout_ms)) return tcp_timeout;
    sockaddr_in remote{};
    socklen_t remote_length = sizeof remote;
    const Fd connection(::accept4(listener.get(), reinterpret_cast<sockaddr*>(&remote),
                                  &remote_length, SOCK_CLOEXEC));
    if (!connection) return tcp_error;
    if (peer && ntohl(remote.sin_addr.s_addr) != peer->value) return tcp_wrong_peer;
    std::string received;
    char buffer[256];
    while (received.size() < expected.size() && wait_readable(connection.get(), timeout_ms)) {
        const ssize_t count = ::read(connection.get(), buffer, sizeof buffer);
        if (count <= 0) break;
        received.append(buffer, static_cast<size_t>(count));
    }
    return received == expected ? tcp_ok : tcp_wrong_data;
}

// Connects to address:port within `timeout_ms` and sends `data`.
inline int tcp_send(net::Ipv4 address, uint16_t port, const std::string& data, int timeout_ms) {
    const Fd socket(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0));
    sockaddr_in remote{};
    remote.sin_family = AF_INET;
    remote.sin_port = htons(port);
    remote.sin_addr.s_addr = htonl(address.value);
    if (::connect(socket.get(), reinterpret_cast<sockaddr*>(&remote), sizeof remote) != 0) {
        if (errno == ECONNREFUSED) return tcp_refused;
        if (errno != EINPROGRESS) return tcp_error;
        pollfd entry{socket.get(), POLLOUT, 0};
        if (::poll(&entry, 1, timeout_ms) != 1) return tcp_timeout;
        int error = 0;
        socklen_t length = sizeof error;
        ::getsockopt(socket.get(), SOL_SOCKET, SO_ERROR, &error, &length);
        if (error == ECONNREFUSED) return tcp_refused;
        if (error != 0) return tcp_error;
    }
    return ::send(socket.get(), data.data(), data.size(), MSG_NOSIGNAL) ==
                   static_cast<ssize_t>(data.size())
               ? tcp_ok
               : tcp_error;
}

// A listener child in `netns_pid`'s namespace (the host's when 0), listening once it returns.
inline std::unique_ptr<Worker> start_listener(pid_t netns_pid, net::Ipv4 address, uint16_t port,
                                              const std::string& expected, int timeout_ms,
                                              std::optional<net::Ipv4> peer = std::nullopt) {
    int ready[2];
    if (::pipe2(ready, O_CLOEXEC) != 0) throw std::runtime_error("pipe2 failed");
    Fd read_end(ready[0]), write_end(ready[1]);
    auto listener = run_child(netns_pid, [&] {
        return tcp_receive(address, port, expected, write_end.get(), timeout_ms, peer);
    });
    write_end.reset();
    if (!wait_readable(read_end.get(), 3000))
        throw std::runtime_error(fmt::format("the listener exited with {} before listening",
                                             listener->wait(std::chrono::seconds(1))));
    return listener;
}

// The exit code of a child in `netns_pid`'s namespace that connects and sends `data`.
inline int connect_from(pid_t netns_pid, net::Ipv4 address, uint16_t port, const std::string& data,
                        int timeout_ms) {
    auto sender = run_child(netns_pid, [&] { return tcp_send(address, port, data, timeout_ms); });
    return sender->wait(std::chrono::milliseconds(timeout_ms + 2000));
}

// The parsed stdout of a command that prints JSON; null when it fails.
inline nlohmann::json command_json(const std::string& command) {
    const CommandResult result = run_command(command, /*stdout_only=*/true);
    if (result.exit_code != 0 || result.output.empty()) return nullptr;
    return nlohmann::json::parse(result.output);
}

// The `ip -j addr show dev NAME` entry of an interface (null when it does not exist).
inline nlohmann::json interface_json(const std::string& name, const std::string& netns = "") {
    const std::string prefix = netns.empty() ? "" : "nsenter --net=" + netns + " ";
    const nlohmann::json list = command_json(prefix + "ip -j addr show dev " + name);
    if (!list.is_array() || list.empty()) return nullptr;
    return list[0];
}

inline bool link_exists(const std::string& name) {
    return run_command("ip link show dev " + name).exit_code == 0;
}

inline bool has_address(const nlohmann::json& interface, const std::string& local, int prefix) {
    if (interface.is_null()) return false;
    for (const auto& info : interface.value("addr_info", nlohmann::json::array()))
        if (info.value("family", "") == "inet" && info.value("local", "") == local &&
            info.value("prefixlen", -1) == prefix)
            return true;
    return false;
}

inline bool is_up(const nlohmann::json& interface) {
    if (interface.is_null()) return false;
    for (const auto& flag : interface.value("flags", nlohmann::json::array()))
        if (flag == "UP") return true;
    return false;
}

// The rules of chain `chain` of table inet lcloud, each as its "expr" array (handles dropped,
// since flushing and refilling renumbers them); null when the chain does not exist.
inline nlohmann::json chain_rules(const std::string& chain) {
    const nlohmann::json listing = command_json("nft -j list chain inet lcloud " + chain);
    if (listing.is_null()) return nullptr;
    nlohmann::json rules = nlohmann::json::array();
    for (const auto& entry : listing.at("nftables"))
        if (entry.contains("rule")) rules.push_back(entry["rule"]["expr"]);
    return rules;
}

// Names of the chains in table inet lcloud (empty when the table does not exist).
inline std::vector<std::string> lcloud_chains() {
    std::vector<std::string> chains;
    const nlohmann::json listing = command_json("nft -j list chains inet");
    if (listing.is_null()) return chains;
    for (const auto& entry : listing.at("nftables"))
        if (entry.contains("chain") && entry["chain"].value("table", "") == "lcloud")
            chains.push_back(entry["chain"].value("name", ""));
    return chains;
}

inline bool lcloud_table_exists() {
    return run_command("nft list table inet lcloud").exit_code == 0;
}

// Deletes test interfaces (made with `ip link add`) whatever happens to the test.
class LinkGuard {
  public:
    explicit LinkGuard(std::string name) : name_(std::move(name)) {
        run_command("ip link del " + name_);
    }
    LinkGuard(const LinkGuard&) = delete;
    LinkGuard& operator=(const LinkGuard&) = delete;
    ~LinkGuard() { run_command("ip link del " + name_); }
    const std::string& name() const { return name_; }

  private:
    std::string name_;
};

} // namespace lcloud::test::network

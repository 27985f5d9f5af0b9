#pragma once

// A real lcloud-agent for the benchmarks, and what removes everything one may leave behind.

#include "agent/protocol/client.hpp"
#include "runtime/network/network.hpp"
#include "workdir.hpp"

#include <chrono>
#include <csignal>
#include <optional>
#include <sys/mount.h>
#include <sys/wait.h>
#include <thread>

namespace lcloud::bench {

// Waits up to `timeout` for the process (a child of ours) to end; true when it did.
inline bool wait_child(pid_t pid, std::chrono::milliseconds timeout) {
    const auto deadline = Clock::now() + timeout;
    while (Clock::now() < deadline) {
        if (::waitpid(pid, nullptr, WNOHANG) == pid) return true;
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    return false;
}

// Removes what an agent under `root` may have left once it is gone: the runtime's containers
// (lcloud-runtime delete --force: processes, cgroups), rootfs mounts, networks (bridges, veths,
// nftables rules).
inline void clean_agent_root(const fs::path& root, const WorkDir& work) {
    const fs::path runtime = root / "runtime";
    std::error_code error;
    if (fs::exists(runtime))
        for (const auto& entry : fs::directory_iterator(runtime, error))
            if (entry.is_directory() && entry.path().filename() != "seccomp-cache")
                run({LCLOUD_RUNTIME_BINARY, "--root", runtime.string(), "delete", "--force",
                     entry.path().filename().string()},
                    work.options());
    unmount_below(root);
    if (fs::exists(root / "networks")) {
        runtime::network::Networks networks({root / "networks"});
        for (const auto& network : networks.list())
            networks.remove(network.name);
    }
}

// `lcloud-agent serve` as our child on ROOT, serving ROOT/../agent.sock; its log in ROOT.log.
class AgentProcess {
  public:
    AgentProcess(const WorkDir& work, fs::path root) : work_(work), root_(std::move(root)) {
        socket_ = root_.parent_path() / "agent.sock";
        fs::create_directories(root_);
        pid_ = ::fork();
        if (pid_ == 0) {
            const std::string log = root_.string() + ".log";
            std::freopen("/dev/null", "r", stdin);
            std::freopen(log.c_str(), "a", stdout);
            std::freopen(log.c_str(), "a", stderr);
            // Only image imports read it: containers start the same either way.
            ::setenv("LCLOUD_AGENT_NO_FSYNC", "1", 1);
            ::execl(LCLOUD_AGENT_BINARY, LCLOUD_AGENT_BINARY, "serve", "--root", root_.c_str(),
                    "--socket", socket_.c_str(), nullptr);
            ::_exit(127);
        }
        if (pid_ < 0) throw std::runtime_error("fork failed");
        const auto deadline = Clock::now() + std::chrono::seconds(30);
        while (!client && Clock::now() < deadline) {
            if (::waitpid(pid_, nullptr, WNOHANG) == pid_) {
                pid_ = -1;
                throw std::runtime_error("lcloud-agent exited; see " + root_.string() + ".log");
            }
            if (auto connected = agent::AgentClient::connect_unix(socket_.string()))
                client.emplace(std::move(*connected));
            else
                std::this_thread::sleep_for(std::chrono::milliseconds(20));
        }
        if (!client) throw std::runtime_error("lcloud-agent did not answer on " + socket_.string());
    }
    AgentProcess(const AgentProcess&) = delete;
    AgentProcess& operator=(const AgentProcess&) = delete;
    // Asks the agent to leave, ends it if it will not, and removes what it left.
    ~AgentProcess() {
        try {
            if (client) client->call("agent.shutdown");
        } catch (...) {
        }
        client.reset();
        if (pid_ > 0 && !wait_child(pid_, std::chrono::seconds(30))) {
            ::kill(pid_, SIGKILL);
            ::waitpid(pid_, nullptr, 0);
        }
        try {
            clean_agent_root(root_, work_);
        } catch (const std::exception& error) {
            std::fprintf(stderr, "cleanup of %s: %s\n", root_.c_str(), error.what());
        }
    }
    pid_t pid() const { return pid_; }
    const fs::path& root() const { return root_; }

    std::optional<agent::AgentClient> client;

  private:
    const WorkDir& work_;
    fs::path root_, socket_;
    pid_t pid_ = -1;
};

} // namespace lcloud::bench

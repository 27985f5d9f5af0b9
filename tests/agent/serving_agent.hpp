#pragma once

// `lcloud-agent serve` on a socket under a temporary directory, as a child of the test: several
// clients can talk to it at once, and the test knows its pid (to kill it). Whatever it leaves is
// removed when this goes, pass or fail.

#include "agent/agent_fixture.hpp"

#include <csignal>
#include <string>
#include <sys/wait.h>
#include <unistd.h>
#include <vector>

namespace lcloud::test {

struct ServingAgent {
    TempDir dir;
    pid_t pid = 0;

    // `extra` goes after serve's own options (say --start-after FILE).
    explicit ServingAgent(std::vector<std::string> extra = {}) : extra_(std::move(extra)) {
        start();
    }
    ~ServingAgent() {
        stop(SIGTERM);
        clean_agent_root(root());
    }
    void start() {
        pid = ::fork();
        REQUIRE(pid >= 0);
        if (pid == 0) {
            ::setenv("LCLOUD_AGENT_NO_FSYNC", "1", 1);
            std::vector<std::string> args{"lcloud-agent",  "serve",    "--root",
                                          root().string(), "--socket", socket()};
            args.insert(args.end(), extra_.begin(), extra_.end());
            std::vector<char*> argv;
            for (auto& arg : args)
                argv.push_back(arg.data());
            argv.push_back(nullptr);
            ::execv(LCLOUD_AGENT_BINARY, argv.data());
            ::_exit(127);
        }
    }
    void stop(int signal) {
        if (pid <= 0) return;
        ::kill(pid, signal);
        ::waitpid(pid, nullptr, 0);
        pid = 0;
    }
    std::filesystem::path root() const { return dir.path() / "agent"; }
    std::string socket() const { return (dir.path() / "agent.sock").string(); }
    agent::AgentClient connect() {
        for (int i = 0; i < 200; ++i) {
            if (auto client = agent::AgentClient::connect_unix(socket())) return std::move(*client);
            std::this_thread::sleep_for(std::chrono::milliseconds(25));
        }
        FAIL("the agent did not listen on " << socket());
        throw std::logic_error("unreachable");
    }

  private:
    std::vector<std::string> extra_;
};

} // namespace lcloud::test

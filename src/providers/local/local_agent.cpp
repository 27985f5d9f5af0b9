#include "providers/local/local_agent.hpp"

#include "common/error.hpp"

#include <chrono>
#include <cstdlib>
#include <fmt/format.h>
#include <spdlog/spdlog.h>
#include <sys/wait.h>
#include <thread>
#include <unistd.h>

namespace lcloud::providers::local {

namespace fs = std::filesystem;

LocalAgentPaths local_agent_paths() {
    LocalAgentPaths paths;
    const char* root = std::getenv("LCLOUD_AGENT_ROOT");
    const char* socket = std::getenv("LCLOUD_AGENT_SOCKET");
    paths.root = root && *root ? root : "/var/lib/lcloud/agent";
    paths.socket = socket && *socket ? socket : "/run/lcloud/agent.sock";
    // LCLOUD_AGENT_BINARY names another lcloud-agent (a test's, or one being debugged); the VM
    // gets it too, on a disk of its own when the box carries another.
    if (const char* binary = std::getenv("LCLOUD_AGENT_BINARY"); binary && *binary) {
        paths.binary = fs::absolute(binary);
        return paths;
    }
    std::error_code error;
    const fs::path self = fs::read_symlink("/proc/self/exe", error);
    const fs::path beside = self.parent_path() / "lcloud-agent";
    paths.binary = !error && fs::exists(beside) ? beside : fs::path("lcloud-agent");
    return paths;
}

std::optional<agent::AgentClient> connect_local_agent(bool start) {
    const auto paths = local_agent_paths();
    if (auto client = agent::AgentClient::connect_unix(paths.socket)) return client;
    if (!start) return std::nullopt;
    spdlog::debug("starting {} for {}", paths.binary.string(), paths.root.string());
    const pid_t pid = ::fork();
    if (pid < 0) throw_errno("fork", "lcloud-agent");
    if (pid == 0) {
        ::execlp(paths.binary.c_str(), paths.binary.c_str(), "serve", "--daemon",
                 "--exit-when-empty", "--root", paths.root.c_str(), "--socket",
                 paths.socket.c_str(), nullptr);
        ::_exit(127);
    }
    int status = 0;
    ::waitpid(pid, &status, 0);
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
        throw Error(fmt::format("could not start {} (exit {}); is it installed beside lcloud?",
                                paths.binary.string(), WEXITSTATUS(status)));
    // The daemon recovers its containers before it listens; that may take a moment.
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
    while (std::chrono::steady_clock::now() < deadline) {
        if (auto client = agent::AgentClient::connect_unix(paths.socket)) return client;
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    throw Error(fmt::format("lcloud-agent did not answer on {} within 30 s; see {}",
                            paths.socket.string(), (paths.root / "agent.log").string()));
}

} // namespace lcloud::providers::local

#pragma once

// A real lcloud-agent (the built binary) on a temporary root, with a busybox image in its
// store, reached as a child process speaking the protocol on its stdio. Whatever a test leaves
// (containers, networks, mounts) is removed when the fixture goes, pass or fail.

#include "agent/protocol/client.hpp"
#include "agent/protocol/spec.hpp"
#include "runtime/network/network.hpp"
#include "support/busybox_image.hpp"
#include "support/run_command.hpp"
#include "support/temp_dir.hpp"

#include <chrono>
#include <csignal>
#include <doctest/doctest.h>
#include <filesystem>
#include <fstream>
#include <functional>
#include <optional>
#include <sys/mount.h>
#include <thread>

namespace lcloud::test {

// Removes what an agent under `root` may have left: containers, mounts, networks.
inline void clean_agent_root(const std::filesystem::path& root) {
    namespace fs = std::filesystem;
    const fs::path runtime = root / "runtime";
    if (fs::exists(runtime))
        for (const auto& entry : fs::directory_iterator(runtime))
            if (entry.is_directory() && entry.path().filename() != "seccomp-cache")
                run_command(std::string(LCLOUD_RUNTIME_BINARY) + " --root " + runtime.string() +
                            " delete --force " + entry.path().filename().string());
    if (fs::exists(root / "containers"))
        for (const auto& entry : fs::directory_iterator(root / "containers"))
            ::umount2((entry.path() / "rootfs").c_str(), MNT_DETACH);
    if (fs::exists(root / "networks")) {
        runtime::network::Networks networks({root / "networks"});
        for (const auto& network : networks.list())
            networks.remove(network.name);
    }
}

inline std::string unique_name(const char* prefix) {
    static int counter = 0;
    return std::string(prefix) + std::to_string(::getpid() % 100000) + "x" +
           std::to_string(++counter);
}

class AgentFixture {
  public:
    AgentFixture() {
        ::setenv("LCLOUD_AGENT_NO_FSYNC", "1", 1);
        client.emplace(
            agent::AgentClient::spawn({LCLOUD_AGENT_BINARY, "stdio", "--root", root().string()}));
        static BusyboxTarball tarball;
        client->call("image.import", {{"path", tarball.path().string()}, {"rootfs", image}});
    }
    ~AgentFixture() {
        try {
            if (client) {
                client->call("environment.destroy", {{"environment", environment}});
                client->call("agent.shutdown");
            }
        } catch (...) {
        }
        client.reset();
        clean_agent_root(root());
    }

    std::filesystem::path root() const { return dir.path() / "agent"; }

    agent::ContainerSpec spec(const std::string& service, std::vector<std::string> command) {
        agent::ContainerSpec spec;
        spec.id = environment + "." + service;
        spec.environment = environment;
        spec.service = service;
        spec.image = image;
        spec.network = environment;
        spec.aliases = {service};
        spec.command = std::move(command);
        spec.stop_grace_ms = 2000;
        return spec;
    }
    agent::ContainerStatus create(const agent::ContainerSpec& spec) {
        return client->call("container.create", {{"spec", spec}}).get<agent::ContainerStatus>();
    }
    agent::ContainerStatus status(const std::string& id) {
        return client->call("container.inspect", {{"id", id}}).get<agent::ContainerStatus>();
    }
    struct ExecResult {
        int exit_code = -1;
        std::string out, err;
    };
    ExecResult exec(const std::string& id, const std::vector<std::string>& args) {
        ExecResult result;
        const auto response = client->call_streaming(
            "container.exec", {{"id", id}, {"args", args}}, [&](const nlohmann::json& message) {
                const auto data = agent::base64_decode(message.value("data", ""));
                (message.value("stream", "") == "stderr" ? result.err : result.out) += data;
            });
        result.exit_code = response.value("exit_code", -1);
        return result;
    }
    // Polls `condition` every 50 ms until it holds or `timeout` passes.
    bool eventually(const std::function<bool()>& condition,
                    std::chrono::milliseconds timeout = std::chrono::seconds(10)) {
        const auto deadline = std::chrono::steady_clock::now() + timeout;
        while (std::chrono::steady_clock::now() < deadline) {
            if (condition()) return true;
            std::this_thread::sleep_for(std::chrono::milliseconds(50));
        }
        return condition();
    }

    TempDir dir;
    std::string environment = unique_name("t");
    std::string image = "busybox:test";
    std::optional<agent::AgentClient> client;
};

} // namespace lcloud::test

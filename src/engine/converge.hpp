#pragma once

// `up`: bring the agent's containers of one environment to what the project says, touching
// only what differs.

#include "agent/protocol/client.hpp"
#include "engine/image_carrier.hpp"
#include "engine/plan.hpp"
#include "project/model.hpp"

#include <chrono>
#include <functional>
#include <string>
#include <vector>

namespace lcloud::engine {

struct UpOptions {
    std::vector<std::string> services; // empty: all
    std::chrono::seconds health_timeout{180};
    // Where the agent is not this host: how contexts and images get there (null: local).
    ImageCarrier* carrier = nullptr;
    // Called once every image is in place, before any container is touched; `fresh`: the
    // environment had no container when up began.
    std::function<void(bool fresh)> images_ready;
};

struct UpResult {
    std::vector<std::string> created, recreated, started, unchanged, removed;
    std::vector<agent::ContainerStatus> containers; // the environment afterwards
    bool changed() const {
        return !created.empty() || !recreated.empty() || !started.empty() || !removed.empty();
    }
};

UpResult up(agent::AgentClient& agent, const project::Project& project, const UpOptions& options,
            const Progress& progress);

// The environment's containers, in plan order where known.
std::vector<agent::ContainerStatus> environment_containers(agent::AgentClient& agent,
                                                           const std::string& environment);

// What `destroy` removed, as the agent says. `keep_network` is for reset, which makes the same
// containers on it again at once.
nlohmann::json destroy(agent::AgentClient& agent, const std::string& environment,
                       bool keep_network = false);
// Stops every container of the environment; returns their ids.
std::vector<std::string> halt(agent::AgentClient& agent, const std::string& environment);

} // namespace lcloud::engine

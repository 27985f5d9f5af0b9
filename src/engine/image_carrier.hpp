#pragma once

// How images reach an agent on another machine (the VM's): a build context crosses over as a
// tar, and an image only this host's store has is copied across. The engine decides what is
// needed; a carrier moves it. Without a carrier (provider local) the agent reads the host.

#include "agent/protocol/client.hpp"
#include "engine/plan.hpp"

#include <functional>
#include <nlohmann/json.hpp>
#include <string>

namespace lcloud::engine {

using Progress = std::function<void(const std::string& line)>;

class ImageCarrier {
  public:
    virtual ~ImageCarrier() = default;
    // Runs image.build in the agent with these params (context and containerfile as the agent
    // sees them) and returns the image id.
    using RunBuild = std::function<std::string(const nlohmann::json& params)>;
    // Builds `planned`'s image from the host's build context: carries the context over and
    // calls `run` with its paths there, or does nothing when the agent has the image of this
    // very context already.
    virtual void build(agent::AgentClient& agent, const PlannedContainer& planned,
                       const nlohmann::json& params, const RunBuild& run,
                       const Progress& progress) = 0;
    // Copies `reference` from this host's image store into the agent's; false when the host
    // has no such image.
    virtual bool carry_image(agent::AgentClient& agent, const std::string& reference,
                             const Progress& progress) = 0;
    // "the VM", for messages.
    virtual std::string where() const = 0;
};

// The images a build starts FROM (not scratch, not an earlier stage; a FROM that needs an ARG
// is left to the builder), in order, without duplicates.
std::vector<std::string> base_images(const project::BuildSpec& build);

} // namespace lcloud::engine

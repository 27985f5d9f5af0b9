#pragma once

// The project, as the agent is to run it: one ContainerSpec per container (replicas apart), in
// the order depends_on allows.

#include "agent/protocol/spec.hpp"
#include "project/model.hpp"

#include <optional>
#include <string>
#include <vector>

namespace lcloud::engine {

// "<project name>-<6 hex digits of the project directory's hash>": two checkouts of one project
// never share containers, networks or volumes.
std::string environment_name(const project::Project& project);

struct PlannedContainer {
    agent::ContainerSpec spec;
    std::vector<project::Dependency> depends_on;
    // Set when the service builds its image: spec.image ("<project>/<service>:latest"
    // unless the file names one) is the tag the build gives.
    std::optional<project::BuildSpec> build;
};

// Specs without config_hash (which needs the image id; see finish_hash). Services in an order
// where each comes after what it depends on; throws Error naming a cycle.
std::vector<PlannedContainer> plan_containers(const project::Project& project);

// Only the named services and what they depend on, in plan order; throws Error naming an
// unknown service.
std::vector<PlannedContainer> select_services(const std::vector<PlannedContainer>& plan,
                                              const std::vector<std::string>& services);

// sha256 of the spec (without its hash) and the image id: a change of either means recreate.
std::string config_hash(const agent::ContainerSpec& spec, const std::string& image_id);

} // namespace lcloud::engine

#pragma once

#include "agent/protocol/client.hpp"
#include "agent/protocol/spec.hpp"
#include "cli/app.hpp"

#include <optional>
#include <string>

namespace lcloud::cli {

// The project and its agent, for the commands that act on containers.
struct Environment {
    project::Project project;
    std::string name; // engine::environment_name
    std::optional<agent::AgentClient> agent;
};

// Loads the project and connects to where its containers live. Only the local provider exists
// yet; the libvirt one arrives with the VM. `start` starts the agent when it is not running;
// without it, `agent` stays empty when there is nothing to reach.
Environment open_environment(const Context& context, bool start);

// A table: the first row is the header.
void print_table(const std::vector<std::vector<std::string>>& rows);

// "127.0.0.1:8080->80/tcp" for each published port of a container.
std::string ports_text(const agent::ContainerStatus& status);

} // namespace lcloud::cli

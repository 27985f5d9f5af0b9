#pragma once

#include "agent/protocol/client.hpp"
#include "agent/protocol/spec.hpp"
#include "cli/app.hpp"
#include "providers/machine.hpp"

#include <memory>

#include <optional>
#include <string>

namespace lcloud::cli {

// The project and its agent, for the commands that act on containers.
struct Environment {
    project::Project project;
    std::string name; // engine::environment_name
    std::optional<agent::AgentClient> agent;
    // The VM, for provider libvirt; null for provider local.
    std::unique_ptr<providers::Machine> machine;
};

// Loads the project and connects to where its containers live. `start` starts the local agent
// when it is not running; without it, `agent` stays empty when there is nothing to reach. For
// provider libvirt, `machine` is the VM (its containers arrive with the agent in the VM).
Environment open_environment(const Context& context, bool start);

// The lcloud-agent program beside this lcloud, else the one in PATH, as an absolute path.
std::filesystem::path agent_binary();

// Progress lines ("==> …") on stderr, unless -q.
providers::Progress progress_printer(const Context& context);

// A table: the first row is the header.
void print_table(const std::vector<std::vector<std::string>>& rows);

// "127.0.0.1:8080->80/tcp" for each published port of a container.
std::string ports_text(const agent::ContainerStatus& status);

} // namespace lcloud::cli

#pragma once

// providers/local: the containers run on this Linux host, supervised by one lcloud-agent
// daemon that the first command starts and that exits once it has nothing left to supervise.

#include "agent/protocol/client.hpp"

#include <filesystem>
#include <string>

namespace lcloud::providers::local {

struct LocalAgentPaths {
    std::filesystem::path root;   // $LCLOUD_AGENT_ROOT, else /var/lib/lcloud/agent
    std::filesystem::path socket; // $LCLOUD_AGENT_SOCKET, else /run/lcloud/agent.sock
    std::filesystem::path binary; // $LCLOUD_AGENT_BINARY, else beside lcloud, else in PATH
};

LocalAgentPaths local_agent_paths();

// Connects to the host's agent, starting it when nobody serves the socket and `start` is set.
// nullopt when it is not running and `start` is false.
std::optional<agent::AgentClient> connect_local_agent(bool start);

} // namespace lcloud::providers::local

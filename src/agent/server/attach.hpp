#pragma once

#include <filesystem>

namespace lcloud::agent {

// Relays stdin to the agent's socket and the socket to stdout until either side ends; how a
// client reaches a serving agent through an SSH exec channel. Returns the exit code.
int attach_stdio(const std::filesystem::path& socket);

} // namespace lcloud::agent

#pragma once

#include "runtime/oci/config.hpp"

#include <string>
#include <string_view>
#include <vector>

namespace lcloud::runtime {

// Runs each hook in order with the container's state JSON on its stdin, as the OCI spec says.
// A failing or timed-out hook throws, naming the hook's kind and path.
void run_hooks(const std::vector<oci::Hook>& hooks, std::string_view kind,
               const std::string& state_json);

// For poststart and poststop hooks, whose failures the spec makes warnings: runs every hook,
// also after one fails, and returns one message per failure (naming the hook's kind and path).
std::vector<std::string> run_hooks_warning_on_failure(const std::vector<oci::Hook>& hooks,
                                                      std::string_view kind,
                                                      const std::string& state_json);

} // namespace lcloud::runtime

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

} // namespace lcloud::runtime

#pragma once

#include "project/model.hpp"

#include <nlohmann/json.hpp>
#include <string>

namespace lcloud::project {

// The resolved project: defaults filled in, paths absolute, variables replaced.
nlohmann::ordered_json to_json(const Project& project);

// Block-style YAML of a JSON value, keys in their order.
std::string to_yaml(const nlohmann::ordered_json& value);

} // namespace lcloud::project

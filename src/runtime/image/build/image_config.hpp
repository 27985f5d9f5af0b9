#pragma once

// The image config a build changes step by step, kept as the JSON document it is stored as, so
// that what the base image sets and we do not know survives.

#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace lcloud::runtime::image::build {

// The config of FROM scratch: no layers, nothing set.
nlohmann::json scratch_image();

// The "config" object (what a container starts with), made when missing.
nlohmann::json& run_config(nlohmann::json& image);

std::vector<std::string> env_list(const nlohmann::json& image);
std::optional<std::string> env_value(const nlohmann::json& image, std::string_view name);
void set_env(nlohmann::json& image, const std::string& name, const std::string& value);

// SHELL, or ["/bin/sh", "-c"].
std::vector<std::string> shell_of(const nlohmann::json& image);

// A history entry, and the layer's diff_id in rootfs when the step made one.
void record_step(nlohmann::json& image, const std::string& created_by,
                 const std::optional<std::string>& diff_id, const std::string& created);

} // namespace lcloud::runtime::image::build

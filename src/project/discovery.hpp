#pragma once

#include <filesystem>
#include <optional>

namespace lcloud::project {

inline constexpr const char* project_file_name = "lcloud.yaml";

// lcloud.yaml in `start` or the nearest parent that has one, as git finds .git.
std::optional<std::filesystem::path> find_project_file(const std::filesystem::path& start);

} // namespace lcloud::project

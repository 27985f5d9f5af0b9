#include "project/discovery.hpp"

namespace lcloud::project {

std::optional<std::filesystem::path> find_project_file(const std::filesystem::path& start) {
    std::error_code ignored;
    for (auto dir = std::filesystem::absolute(start, ignored); !dir.empty();
         dir = dir.parent_path()) {
        const auto candidate = dir / project_file_name;
        if (std::filesystem::is_regular_file(candidate, ignored)) return candidate;
        if (dir == dir.root_path()) break;
    }
    return std::nullopt;
}

} // namespace lcloud::project

#include "project/templates.hpp"

#include "common/error.hpp"
#include "state/atomic_file.hpp"

#include <algorithm>
#include <fmt/format.h>
#include <set>

namespace lcloud::project {

namespace fs = std::filesystem;

std::vector<std::string> template_names() {
    std::set<std::string> names;
    for (const auto& file : template_files())
        names.emplace(file.template_name);
    return {names.begin(), names.end()};
}

std::vector<fs::path> write_template(std::string_view name, const fs::path& dir) {
    std::vector<const TemplateFile*> files;
    for (const auto& file : template_files())
        if (file.template_name == name) files.push_back(&file);
    if (files.empty())
        throw UsageError(fmt::format("unknown template '{}'; templates: {}", name,
                                     fmt::join(template_names(), ", ")));

    std::vector<std::string> existing;
    for (const auto* file : files)
        if (fs::exists(fs::symlink_status(dir / file->path))) existing.emplace_back(file->path);
    if (std::find(existing.begin(), existing.end(), "lcloud.yaml") != existing.end())
        throw Error(fmt::format("{} already exists; not overwriting it (nothing was written)",
                                (dir / "lcloud.yaml").string()));
    if (!existing.empty())
        throw Error(fmt::format("{} already has {}; not overwriting anything (remove {} or pick "
                                "another directory)",
                                dir.string(), fmt::join(existing, ", "),
                                existing.size() == 1 ? "it" : "them"));

    std::vector<fs::path> written;
    for (const auto* file : files) {
        const fs::path target = dir / file->path;
        std::error_code error;
        fs::create_directories(target.parent_path(), error);
        if (error)
            throw SystemError("create directory", target.parent_path().string(), error.value());
        state::write_file_atomic(target, file->content, 0644);
        written.push_back(target);
    }
    return written;
}

} // namespace lcloud::project

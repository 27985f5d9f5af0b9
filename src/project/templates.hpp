#pragma once

#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

namespace lcloud::project {

struct TemplateFile {
    std::string_view template_name;
    std::string_view path; // relative to the project directory
    std::string_view content;
};

// Every file of every template, compiled in from templates/.
const std::vector<TemplateFile>& template_files();

std::vector<std::string> template_names();

// Writes template `name` into `dir` (created if missing). Refuses, writing nothing, when any of
// its files already exists. Returns the paths written.
std::vector<std::filesystem::path> write_template(std::string_view name,
                                                  const std::filesystem::path& dir);

} // namespace lcloud::project

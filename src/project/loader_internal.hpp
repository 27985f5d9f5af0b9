#pragma once

#include "project/model.hpp"
#include "project/yaml_reader.hpp"

namespace lcloud::project {

// Context for reading one project file.
struct LoadContext {
    YamlReader& reader;
    const std::filesystem::path& project_dir;
    const VariableLookup& variables;
    std::string project_name;
};

std::optional<Container> read_container(LoadContext& context, const MapEntry& entry);

// Cross-container checks: depends_on references and cycles, host ports claimed twice.
void validate_containers(const Project& project, YamlReader& reader);

bool is_dns_label(std::string_view name);
// An explanation of why `name` is not a DNS label, with a corrected example.
std::string dns_label_problem(std::string_view name);
std::string to_dns_label(std::string_view name);

} // namespace lcloud::project

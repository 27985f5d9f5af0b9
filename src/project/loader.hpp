#pragma once

#include "project/diagnostics.hpp"
#include "project/interpolate.hpp"
#include "project/model.hpp"

#include <filesystem>
#include <string_view>

namespace lcloud::project {

struct LoadOptions {
    // How diagnostics name the file; defaults to the file's name.
    std::string display_name;
    // The process environment; `.env` beside the file fills in what it lacks.
    VariableLookup environment;
};

// The process environment as a lookup.
VariableLookup process_environment();

// Reads, interpolates and validates lcloud.yaml. Throws ProjectError listing every error;
// `warnings` receives the warnings (unset variables, folders shared from outside the project).
Project load_project(const std::filesystem::path& file, const LoadOptions& options,
                     std::vector<Diagnostic>* warnings = nullptr);

// The same on text already in memory; never throws for bad input, reports into `diagnostics`.
// `file` gives the project directory against which relative paths resolve.
Project parse_project(std::string_view text, const std::filesystem::path& file,
                      const VariableLookup& variables, Diagnostics& diagnostics);

} // namespace lcloud::project

#pragma once

#include <filesystem>

namespace lcloud::cli {

enum class Verbosity { quiet, normal, verbose };

// Console logging to stderr at the chosen verbosity.
void setup_logging(Verbosity verbosity, bool color);

// Also appends every debug message of this run to `dir/log` (the environment's .lcloud/).
// Best effort: a directory that cannot be written only costs the log.
void add_state_log(const std::filesystem::path& dir);

} // namespace lcloud::cli

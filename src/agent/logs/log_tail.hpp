#pragma once

#include "agent/logs/log_file.hpp"

#include <cstddef>
#include <filesystem>
#include <optional>
#include <vector>

namespace lcloud::agent {

// The last `count` entries of DIR's log across its rotated files, oldest first; every entry
// when count is nullopt or 0. Lines that are not entries (torn by a killed writer) are skipped.
// Reads the files from their ends, so a short tail of a long log stays cheap.
std::vector<LogEntry> read_tail(const std::filesystem::path& dir, std::optional<size_t> count);

} // namespace lcloud::agent

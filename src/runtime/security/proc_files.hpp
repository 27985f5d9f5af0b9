#pragma once

// Small kernel files under /proc, read and written by the security module.

#include <optional>
#include <string>

namespace lcloud::runtime::security {

// The file's content without surrounding white space; nullopt when it cannot be opened (no
// /proc in the container, or an older kernel without the file).
std::optional<std::string> read_proc_value(const char* path);

// Writes `value` in one write(2); throws SystemError naming the file.
void write_proc_value(const char* path, const std::string& value);

} // namespace lcloud::runtime::security

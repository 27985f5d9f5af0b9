#pragma once

#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <sys/types.h>

namespace lcloud::state {

// What a write must survive. State about running processes is worthless after a reboot, so it
// need not pay for fsync (milliseconds on this machine's disk, where /run is not a tmpfs).
enum class Durability { power_loss, killed_writer };

// Writes `content` to `path` so that a process killed at any moment leaves the old file or the
// new one, never a torn one: temporary file `.<basename>.tmp.<pid>.<random>` in the same
// directory, (fsync,) rename, (fsync of the directory). Throws SystemError naming `path`.
void write_file_atomic(const std::filesystem::path& path, std::string_view content,
                       mode_t mode = 0600, Durability durability = Durability::power_loss);

// The file's content; nullopt when it does not exist.
std::optional<std::string> read_file(const std::filesystem::path& path);

// Removes the temporary files of writers that were killed (their pid no longer exists).
void remove_stale_temp_files(const std::filesystem::path& dir);

} // namespace lcloud::state

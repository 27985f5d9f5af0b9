#pragma once

#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <utility>

namespace lcloud::state {

// `.lcloud/` beside lcloud.yaml: the environment's private state, mode 0700.
class StateDir {
  public:
    static constexpr const char* dir_name = ".lcloud";

    // Creates it if missing and tightens its mode; clears what killed writers left. Throws Error
    // when something other than a directory (a file, a symlink) has that name.
    static StateDir open(const std::filesystem::path& project_dir);

    const std::filesystem::path& path() const { return path_; }
    std::filesystem::path file(std::string_view name) const { return path_ / name; }
    // Atomic, mode 0600.
    void write(std::string_view name, std::string_view content) const;
    // nullopt when the file does not exist.
    std::optional<std::string> read(std::string_view name) const;
    // After destroy: removes the lock and the log, then the directory when nothing else is left
    // in it. True when it is gone. The caller may still hold the lock: a process waiting for it
    // finds the name gone and makes both anew (EnvLock::acquire).
    bool remove_when_spent() const;

  private:
    explicit StateDir(std::filesystem::path path) : path_(std::move(path)) {}
    std::filesystem::path path_;
};

} // namespace lcloud::state

#pragma once

// Reading and writing cgroup files, with failures that name the file and the value.

#include "common/error.hpp"

#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <sys/types.h>
#include <vector>

namespace lcloud::runtime::cgroups {

// A cgroup operation failed. error_number() is the errno of the failed call, 0 when the value was
// refused before reaching the kernel.
class CgroupError : public Error {
  public:
    explicit CgroupError(const std::string& message, int error_number = 0)
        : Error(message), error_number_(error_number) {}
    int error_number() const { return error_number_; }

  private:
    int error_number_;
};

// The file's content without surrounding white space; nullopt when it does not exist.
std::optional<std::string> read_value(const std::filesystem::path& file);

// Writes `value` in one write(2), as cgroup files need. Throws CgroupError naming the file, the
// value and errno, followed by `hint` (what would be right) when given.
void write_value(const std::filesystem::path& file, std::string_view value,
                 std::string_view hint = {});

bool file_exists(const std::filesystem::path& file);

// The pids in a cgroup.procs file; empty when the file (the cgroup) is gone.
std::vector<pid_t> read_pids(const std::filesystem::path& procs_file);

// White-space separated words, as in cgroup.controllers.
std::vector<std::string> words(std::string_view text);

} // namespace lcloud::runtime::cgroups

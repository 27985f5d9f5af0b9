#pragma once

#include "runtime/image/errors.hpp"

#include <cstddef>
#include <optional>
#include <string>

namespace lcloud::runtime::image::build {

// A build failed at an instruction: the message starts with "FILE:LINE: " and names the
// instruction and what went wrong; for a RUN that failed, its exit code and last output lines.
class BuildError : public ImageError {
  public:
    BuildError(const std::string& file, size_t line, const std::string& problem)
        : ImageError(file + ":" + std::to_string(line) + ": " + problem), file_(file), line_(line) {
    }
    BuildError(const std::string& file, size_t line, const std::string& problem, int exit_code,
               std::string output)
        : ImageError(file + ":" + std::to_string(line) + ": " + problem), file_(file), line_(line),
          exit_code_(exit_code), output_(std::move(output)) {}

    const std::string& file() const { return file_; }
    size_t line() const { return line_; }
    // Set when a RUN exited with a non-zero code.
    std::optional<int> command_exit_code() const { return exit_code_; }
    // The RUN's last output lines.
    const std::string& output() const { return output_; }

  private:
    std::string file_;
    size_t line_;
    std::optional<int> exit_code_;
    std::string output_;
};

} // namespace lcloud::runtime::image::build

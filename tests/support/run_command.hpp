#pragma once

#include <array>
#include <cstdio>
#include <filesystem>
#include <stdexcept>
#include <string>
#include <sys/wait.h>

namespace lcloud::test {

struct CommandResult {
    int exit_code = -1;
    std::string output; // stdout and stderr together
};

// Runs a shell command line and captures its output (stdout, and stderr unless `stdout_only`)
// and exit code.
inline CommandResult run_command(const std::string& command_line, bool stdout_only = false) {
    CommandResult result;
    FILE* pipe = ::popen((command_line + (stdout_only ? " 2>/dev/null" : " 2>&1")).c_str(), "r");
    if (!pipe) throw std::runtime_error("popen failed: " + command_line);
    std::array<char, 4096> buffer;
    size_t count;
    while ((count = fread(buffer.data(), 1, buffer.size(), pipe)) > 0)
        result.output.append(buffer.data(), count);
    const int status = ::pclose(pipe);
    result.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    return result;
}

inline std::string lcloud_binary() {
    return LCLOUD_BINARY;
}

} // namespace lcloud::test

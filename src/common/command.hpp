#pragma once

#include <string>
#include <vector>

namespace lcloud {

struct ProgramOutput {
    int exit_code = -1; // 128 + N when killed by signal N
    std::string output; // stdout and stderr together
};

// Runs a program (looked up in PATH) with no shell between, stdin from /dev/null, and waits for
// it. Throws SystemError when it cannot be started at all.
ProgramOutput run_program(const std::vector<std::string>& args);

// Like run_program, but a non-zero exit is an Error that names `what` and quotes the output's
// last lines.
std::string run_program_checked(const std::vector<std::string>& args, const std::string& what);

} // namespace lcloud

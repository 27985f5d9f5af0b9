#pragma once

#include "runtime/oci/config.hpp"
#include "runtime/security/seccomp.hpp"

#include <filesystem>

#include <optional>
#include <string>

namespace lcloud::runtime {

// The program to run, found in the container's PATH as execvp would; throws when there is none,
// so that `create` reports it rather than the container dying at `start`.
std::string resolve_executable(const oci::Process& process);

// Enters process.cwd inside the (already entered) root filesystem, creating it if missing.
void enter_working_directory(const oci::Process& process);

// The last steps of a container process, in the order the OCI runtimes use: rlimits, the user and
// capabilities, no_new_privs and seccomp (seccomp last when no_new_privs is set, else before the
// capabilities are dropped, since loading a filter then needs CAP_SYS_ADMIN), every descriptor
// above stderr closed on exec, then execve. Returns only by throwing.
[[noreturn]] void exec_process(const oci::Process& process, const std::string& executable,
                               const std::optional<security::SeccompProgram>& seccomp);

// The config's seccomp profile compiled (through the cache under the runtime's root), or nullopt.
std::optional<security::SeccompProgram> seccomp_program(const oci::Config& config,
                                                        const std::filesystem::path& runtime_root);

} // namespace lcloud::runtime

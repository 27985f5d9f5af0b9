#pragma once

// A RUN instruction's container, with our own runtime: the step's merged root, the default spec
// of `lcloud-runtime spec` adjusted for a build, stdout and stderr captured.

#include "runtime/image/build/users.hpp"

#include <filesystem>
#include <functional>
#include <string>
#include <vector>

namespace lcloud::runtime::image::build {

struct RunRequest {
    std::filesystem::path rootfs; // mounted, writable
    std::vector<std::string> args;
    std::vector<std::string> env;
    std::string cwd = "/";
    ResolvedUser user;
    // false: a network namespace of its own with only loopback (up); true: the host's network.
    bool network = false;
    std::filesystem::path bundle_dir;   // must not exist; created and removed
    std::filesystem::path runtime_root; // the runtime's state root, shared by a build's RUNs
};

struct RunOutcome {
    int exit_code = 0;
    std::vector<std::string> last_lines; // of the output, at most 20
};

// Runs the container to its end; every output line (stdout and stderr together) goes to
// `output` as it comes. The container, its cgroup, its state and the bundle are gone when this
// returns or throws.
RunOutcome run_build_container(const RunRequest& request,
                               const std::function<void(const std::string&)>& output);

} // namespace lcloud::runtime::image::build

#pragma once

#include "runtime/container/namespaces.hpp"
#include "runtime/container/sync.hpp"
#include "runtime/oci/config.hpp"
#include "runtime/security/seccomp.hpp"

#include <array>
#include <filesystem>
#include <vector>

namespace lcloud::runtime {

struct InitContext {
    const oci::Config* config = nullptr;
    std::filesystem::path rootfs;
    std::vector<std::string> cgroup_paths; // sent with "go"
    SyncChannel channel;
    Fd exec_fifo;      // O_PATH: reopened for writing once the root has changed
    Fd console_socket; // set when process.terminal
    std::vector<NamespaceFd> joins;
    bool new_user_namespace = false;
    bool new_cgroup_namespace = false;
    std::string state_json; // for createContainer and startContainer hooks; sent with "go"
    bool received_go = false;
    std::optional<security::SeccompProgram> seccomp; // compiled by the runtime before the clone
    std::array<int, 3> stdio{-1, -1, -1};            // CreateOptions::stdio
};

// The container's first process, from clone to execve. It reports every failure to the runtime
// over the channel and exits; it never returns.
[[noreturn]] void container_init(InitContext& context);

} // namespace lcloud::runtime

#pragma once

// The running forwarder of one environment, found through its pid file and held by a pidfd: a
// pid that was recycled for another process is never signalled.

#include "common/fd.hpp"

#include <chrono>
#include <filesystem>
#include <optional>
#include <string>
#include <sys/types.h>

namespace lcloud::providers::forward {

// The --state argument the forwarder of `state_dir` runs with, and is recognised by.
std::string forwarder_state_arg(const std::filesystem::path& state_dir);

class ForwarderProcess {
  public:
    // The live forwarder of `state_dir`: the pid file names a process whose command line is
    // `... forward --state STATE_DIR`. nullopt for no pid file, a dead pid or someone else's.
    static std::optional<ForwarderProcess> find(const std::filesystem::path& state_dir);

    pid_t pid() const { return pid_; }
    bool exited() const;
    // False when it had exited already.
    bool signal(int signal_number) const;
    // True once it has exited; false when still running after `timeout`.
    bool wait_exit(std::chrono::milliseconds timeout) const;

  private:
    ForwarderProcess(pid_t pid, Fd pidfd) : pid_(pid), pidfd_(std::move(pidfd)) {}
    pid_t pid_;
    Fd pidfd_;
};

} // namespace lcloud::providers::forward

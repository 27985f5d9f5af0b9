#pragma once

#include <cerrno>
#include <csignal>
#include <sys/types.h>
#include <sys/wait.h>

namespace lcloud::test {

// Kills and reaps a forked child in every path, so a failing test leaves no process behind.
class ChildGuard {
  public:
    explicit ChildGuard(pid_t pid) : pid_(pid) {}
    ChildGuard(const ChildGuard&) = delete;
    ChildGuard& operator=(const ChildGuard&) = delete;
    ~ChildGuard() { kill_and_reap(); }
    pid_t pid() const { return pid_; }
    // The wait status.
    int kill_and_reap() {
        int status = 0;
        if (pid_ > 0) {
            ::kill(pid_, SIGKILL);
            while (::waitpid(pid_, &status, 0) < 0 && errno == EINTR) {
            }
            pid_ = 0;
        }
        return status;
    }

  private:
    pid_t pid_;
};

} // namespace lcloud::test

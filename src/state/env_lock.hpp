#pragma once

#include "common/error.hpp"
#include "common/fd.hpp"

#include <chrono>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <sys/types.h>
#include <utility>

namespace lcloud::state {

// Another process held the environment's lock for longer than the caller would wait.
class LockTimeout : public Error {
  public:
    LockTimeout(const std::string& message, pid_t holder_pid)
        : Error(message), holder_pid_(holder_pid) {}
    // 0 when the holder did not record itself (yet).
    pid_t holder_pid() const { return holder_pid_; }

  private:
    pid_t holder_pid_;
};

// Exclusive lock on one environment, held for the object's lifetime. flock() based, so the
// kernel releases it when the holder dies, however it dies.
class EnvLock {
  public:
    // Waits up to `wait` (polling every ~50 ms), then throws LockTimeout naming the holder.
    // Records `<pid> <purpose>` in the lock file for whoever has to wait next.
    static EnvLock acquire(const std::filesystem::path& lock_file, std::string_view purpose,
                           std::chrono::milliseconds wait = std::chrono::seconds(10));

    // The holder's recorded line (`<pid> <purpose>`, possibly empty) while someone holds the
    // lock; nullopt when nobody does.
    static std::optional<std::string> holder(const std::filesystem::path& lock_file);

    EnvLock(EnvLock&& other) noexcept = default;
    EnvLock& operator=(EnvLock&& other) noexcept;
    EnvLock(const EnvLock&) = delete;
    EnvLock& operator=(const EnvLock&) = delete;
    // Unlocks but keeps the file: deleting it would let a waiter lock an orphaned inode.
    ~EnvLock() { release(); }

    const std::filesystem::path& path() const { return path_; }

  private:
    EnvLock(Fd fd, std::filesystem::path path) : fd_(std::move(fd)), path_(std::move(path)) {}
    void release() noexcept;

    Fd fd_;
    std::filesystem::path path_;
};

} // namespace lcloud::state

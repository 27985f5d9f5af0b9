#include "state/env_lock.hpp"

#include <cerrno>
#include <charconv>
#include <fcntl.h>
#include <fmt/format.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <thread>
#include <unistd.h>

namespace lcloud::state {

namespace fs = std::filesystem;
using namespace std::chrono_literals;

namespace {

constexpr auto poll_interval = 50ms;

Fd open_lock_file(const fs::path& lock_file) {
    Fd fd(::open(lock_file.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600));
    // A destroy that held the lock while we waited removed its directory too.
    if (!fd && errno == ENOENT && ::mkdir(lock_file.parent_path().c_str(), 0700) == 0)
        fd = Fd(::open(lock_file.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600));
    if (!fd) throw_errno("open lock file", lock_file.string());
    return fd;
}

// True when the name still leads to the inode we locked. Someone removing or replacing the
// file would otherwise let the next process lock a different inode while we hold this one.
bool still_linked(int fd, const fs::path& lock_file) {
    struct stat opened {
    }, named{};
    if (::fstat(fd, &opened) != 0) throw_errno("inspect lock file", lock_file.string());
    if (::stat(lock_file.c_str(), &named) != 0) {
        if (errno == ENOENT) return false;
        throw_errno("inspect lock file", lock_file.string());
    }
    return opened.st_dev == named.st_dev && opened.st_ino == named.st_ino;
}

std::string read_holder_line(int fd) {
    std::string content;
    char buffer[512];
    for (;;) {
        const ssize_t count =
            ::pread(fd, buffer, sizeof buffer, static_cast<off_t>(content.size()));
        if (count < 0 && errno == EINTR) continue;
        if (count <= 0 || content.size() > 4096) break;
        content.append(buffer, static_cast<size_t>(count));
    }
    if (const size_t end = content.find('\n'); end != std::string::npos) content.resize(end);
    return content;
}

void record_holder(int fd, std::string_view purpose, const fs::path& lock_file) {
    const std::string line = fmt::format("{} {}\n", ::getpid(), purpose);
    // In place, never by rename: the lock belongs to this inode.
    if (::ftruncate(fd, 0) != 0) throw_errno("write lock file", lock_file.string());
    size_t done = 0;
    while (done < line.size()) {
        const ssize_t written =
            ::pwrite(fd, line.data() + done, line.size() - done, static_cast<off_t>(done));
        if (written < 0) {
            if (errno == EINTR) continue;
            throw_errno("write lock file", lock_file.string());
        }
        done += static_cast<size_t>(written);
    }
}

std::string describe_duration(std::chrono::milliseconds duration) {
    if (duration < 10s) return fmt::format("{:.1f} s", static_cast<double>(duration.count()) / 1e3);
    return fmt::format("{} s", std::chrono::duration_cast<std::chrono::seconds>(duration).count());
}

[[noreturn]] void throw_timeout(int fd, const fs::path& lock_file,
                                std::chrono::milliseconds waited) {
    const std::string line = read_holder_line(fd);
    pid_t pid = 0;
    std::string_view purpose;
    if (const size_t space = line.find(' '); space != std::string::npos) {
        const auto [end, error] = std::from_chars(line.data(), line.data() + space, pid);
        if (error != std::errc() || end != line.data() + space || pid <= 0)
            pid = 0;
        else
            purpose = std::string_view(line).substr(space + 1);
    }
    std::string holder = "another process";
    if (pid > 0) {
        holder = fmt::format("process {}", pid);
        if (!purpose.empty()) holder += fmt::format(" ({})", purpose);
        // The holder rewrote the file when it took the lock, so its mtime is when that was.
        struct stat info {};
        if (::fstat(fd, &info) == 0) {
            const auto recorded = std::chrono::system_clock::from_time_t(info.st_mtim.tv_sec) +
                                  std::chrono::duration_cast<std::chrono::system_clock::duration>(
                                      std::chrono::nanoseconds(info.st_mtim.tv_nsec));
            const auto since = std::chrono::system_clock::now() - recorded;
            if (since >= 0s)
                holder += fmt::format(
                    " for {}", describe_duration(
                                   std::chrono::duration_cast<std::chrono::milliseconds>(since)));
        }
    }
    const std::string culprit =
        pid > 0 ? fmt::format("process {}", pid)
                : fmt::format("the process holding it (fuser -v {} shows it)", lock_file.string());
    throw LockTimeout(fmt::format("environment is locked by {}; waited {}. Wait for it to finish, "
                                  "or stop {} if it hangs",
                                  holder, describe_duration(waited), culprit),
                      pid);
}

} // namespace

EnvLock EnvLock::acquire(const fs::path& lock_file, std::string_view purpose,
                         std::chrono::milliseconds wait) {
    const auto start = std::chrono::steady_clock::now();
    const auto deadline = start + wait;
    Fd fd = open_lock_file(lock_file);
    for (;;) {
        if (::flock(fd.get(), LOCK_EX | LOCK_NB) == 0) {
            if (still_linked(fd.get(), lock_file)) break;
            fd = open_lock_file(lock_file);
            continue;
        }
        if (errno == EINTR) continue;
        if (errno != EWOULDBLOCK) throw_errno("lock", lock_file.string());
        const auto now = std::chrono::steady_clock::now();
        if (now >= deadline)
            throw_timeout(fd.get(), lock_file,
                          std::chrono::duration_cast<std::chrono::milliseconds>(now - start));
        std::this_thread::sleep_for(
            std::min<std::chrono::steady_clock::duration>(poll_interval, deadline - now));
    }
    EnvLock lock(std::move(fd), lock_file);
    record_holder(lock.fd_.get(), purpose, lock_file);
    return lock;
}

std::optional<std::string> EnvLock::holder(const fs::path& lock_file) {
    Fd fd(::open(lock_file.c_str(), O_RDONLY | O_CLOEXEC));
    if (!fd) {
        if (errno == ENOENT) return std::nullopt;
        throw_errno("open lock file", lock_file.string());
    }
    while (::flock(fd.get(), LOCK_SH | LOCK_NB) != 0) {
        if (errno == EINTR) continue;
        if (errno == EWOULDBLOCK) return read_holder_line(fd.get());
        throw_errno("lock", lock_file.string());
    }
    return std::nullopt; // closing the descriptor drops the shared lock
}

EnvLock& EnvLock::operator=(EnvLock&& other) noexcept {
    if (this != &other) {
        release();
        fd_ = std::move(other.fd_);
        path_ = std::move(other.path_);
    }
    return *this;
}

void EnvLock::release() noexcept {
    if (!fd_) return;
    // Explicit unlock: a child forked meanwhile shares the open file and would keep it locked
    // past our close().
    ::flock(fd_.get(), LOCK_UN);
    fd_.reset();
}

} // namespace lcloud::state

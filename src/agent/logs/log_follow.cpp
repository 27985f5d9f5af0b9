#include "agent/logs/log_follow.hpp"

#include "common/error.hpp"

#include <cerrno>
#include <fcntl.h>
#include <optional>
#include <sys/epoll.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <unistd.h>
#include <vector>

namespace lcloud::agent {

namespace fs = std::filesystem;

namespace {

std::optional<ino_t> inode_of(const fs::path& path) {
    struct stat info {};
    if (::stat(path.c_str(), &info) != 0) return std::nullopt;
    return info.st_ino;
}

bool is_log_name(std::string_view name) {
    return name.substr(0, log_file_name.size()) == log_file_name;
}

} // namespace

LogFollower::LogFollower(EventLoop& loop, fs::path dir, Callback callback)
    : loop_(loop), dir_(std::move(dir)),
      callback_(std::make_shared<const Callback>(std::move(callback))),
      inotify_(::inotify_init1(IN_NONBLOCK | IN_CLOEXEC)) {
    if (!inotify_) throw_errno("inotify_init1", "the log follower of " + dir_.string());
    // Watched before the file is opened, so that no change falls in between.
    if (::inotify_add_watch(inotify_.get(), dir_.c_str(),
                            IN_MODIFY | IN_CREATE | IN_MOVED_FROM | IN_MOVED_TO | IN_DELETE) < 0)
        throw_errno("inotify_add_watch", dir_.string());
    const fs::path current = dir_ / log_file_name;
    held_ = Fd(::open(current.c_str(), O_RDONLY | O_CLOEXEC));
    if (held_) {
        struct stat info {};
        if (::fstat(held_.get(), &info) != 0) throw_errno("fstat", current.string());
        held_inode_ = info.st_ino;
        if (::lseek(held_.get(), 0, SEEK_END) < 0) throw_errno("lseek", current.string());
    } else if (errno != ENOENT) {
        throw_errno("open", current.string());
    }
    loop_.watch(inotify_.get(), EPOLLIN, [this](uint32_t) { on_events(); });
}

LogFollower::~LogFollower() {
    *alive_ = false;
    loop_.unwatch(inotify_.get());
}

void LogFollower::on_events() {
    alignas(inotify_event) char buffer[8192];
    bool relevant = false;
    for (;;) {
        const ssize_t got = ::read(inotify_.get(), buffer, sizeof buffer);
        if (got < 0 && errno == EINTR) continue;
        if (got <= 0) break;
        for (ssize_t at = 0; at < got;) {
            const auto* event = reinterpret_cast<const inotify_event*>(buffer + at);
            // The FIFOs live here too and report every write of the container.
            if ((event->mask & IN_Q_OVERFLOW) || (event->len > 0 && is_log_name(event->name)))
                relevant = true;
            at += static_cast<ssize_t>(sizeof(inotify_event) + event->len);
        }
    }
    if (relevant) catch_up();
}

void LogFollower::catch_up() {
    // Bounded: a writer in another process rotating without pause must not hold the loop.
    for (int step = 0; step < 16; ++step) {
        // Looked at before reading: once the held file is no longer current, its writer has
        // moved on, and what it holds up to its end is all it will ever hold.
        const auto current = inode_of(dir_ / log_file_name);
        const bool held_is_current = held_ && current && *current == held_inode_;
        if (!read_held()) return;
        if (held_is_current || !advance()) return;
    }
}

bool LogFollower::read_held() {
    if (!held_) return true;
    const std::shared_ptr<bool> alive = alive_;
    const std::shared_ptr<const Callback> callback = callback_;
    char buffer[65536];
    for (;;) {
        const ssize_t got = ::read(held_.get(), buffer, sizeof buffer);
        if (got < 0 && errno == EINTR) continue;
        if (got <= 0) return true;
        partial_.append(buffer, static_cast<size_t>(got));
        size_t start = 0;
        for (size_t newline; (newline = partial_.find('\n', start)) != std::string::npos;) {
            auto entry = parse_log_entry(std::string_view(partial_).substr(start, newline - start));
            start = newline + 1;
            if (!entry) continue;
            (*callback)(*entry);
            if (!*alive) return false;
        }
        partial_.erase(0, start);
    }
}

bool LogFollower::advance() {
    std::vector<fs::path> files;
    try {
        files = log_files(dir_);
    } catch (const SystemError&) {
        return false; // the directory is gone with its container
    }
    // Oldest first: the one after the held file, or the oldest when the held one was rotated
    // out (all that remain are newer), or container.log when nothing was held.
    size_t next = 0;
    if (!held_) {
        if (files.empty() || files.back().filename() != log_file_name) return false;
        next = files.size() - 1;
    } else {
        for (size_t i = 0; i < files.size(); ++i)
            if (inode_of(files[i]) == held_inode_) next = i + 1;
    }
    if (next >= files.size()) return false;
    Fd file(::open(files[next].c_str(), O_RDONLY | O_CLOEXEC));
    struct stat info {};
    if (!file || ::fstat(file.get(), &info) != 0) return false; // rotated meanwhile: next event
    held_ = std::move(file);
    held_inode_ = info.st_ino;
    // A torn line at the end of a finished file never completes.
    partial_.clear();
    return true;
}

} // namespace lcloud::agent

#include "state/atomic_file.hpp"

#include "common/error.hpp"
#include "common/fd.hpp"

#include <atomic>
#include <cerrno>
#include <chrono>
#include <csignal>
#include <fcntl.h>
#include <fmt/format.h>
#include <sys/stat.h>
#include <unistd.h>

namespace lcloud::state {

namespace fs = std::filesystem;

namespace {

constexpr std::string_view temp_marker = ".tmp.";

void write_all(int fd, std::string_view content, const fs::path& path) {
    while (!content.empty()) {
        const ssize_t written = ::write(fd, content.data(), content.size());
        if (written < 0) {
            if (errno == EINTR) continue;
            throw_errno("write", path.string());
        }
        content.remove_prefix(static_cast<size_t>(written));
    }
}

// Removes the temporary file unless it was renamed into place.
struct TempFileGuard {
    fs::path path;
    bool armed = false;
    ~TempFileGuard() {
        if (armed) ::unlink(path.c_str());
    }
};

// The writer's pid when `name` is `.<basename>.tmp.<pid>.<hex>`, else 0. Strict, so that a user's
// file that merely contains ".tmp." is never taken for ours.
pid_t temp_file_owner(std::string_view name) {
    if (name.size() < 2 || name.front() != '.') return 0;
    const size_t marker = name.rfind(temp_marker);
    if (marker == std::string_view::npos || marker == 0) return 0;
    std::string_view rest = name.substr(marker + temp_marker.size());
    const size_t dot = rest.find('.');
    if (dot == 0 || dot == std::string_view::npos || dot > 9) return 0;
    const std::string_view digits = rest.substr(0, dot);
    const std::string_view suffix = rest.substr(dot + 1);
    if (suffix.empty() || suffix.find_first_not_of("0123456789abcdef") != std::string_view::npos)
        return 0;
    if (digits.find_first_not_of("0123456789") != std::string_view::npos) return 0;
    return static_cast<pid_t>(std::stol(std::string(digits)));
}

} // namespace

void write_file_atomic(const fs::path& path, std::string_view content, mode_t mode,
                       Durability durability) {
    const bool sync = durability == Durability::power_loss;
    const fs::path dir = path.has_parent_path() ? path.parent_path() : fs::path(".");
    // Unique with the pid: the clock and a counter suffice, and cost less than random_device.
    static std::atomic<uint64_t> counter{0};
    const auto random = [] {
        return static_cast<uint64_t>(std::chrono::steady_clock::now().time_since_epoch().count()) ^
               (counter.fetch_add(1) << 48);
    };
    TempFileGuard temp{dir / fmt::format(".{}{}{}.{:x}", path.filename().string(), temp_marker,
                                         ::getpid(), random())};
    Fd fd(::open(temp.path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode));
    if (!fd) throw_errno("create temporary file for", path.string());
    temp.armed = true;
    // The umask must not loosen or tighten what the caller asked for.
    if (::fchmod(fd.get(), mode) != 0) throw_errno("chmod", path.string());
    write_all(fd.get(), content, path);
    if (sync && ::fsync(fd.get()) != 0) throw_errno("fsync", path.string());
    // close() can report a deferred write error on some file systems.
    if (::close(fd.release()) != 0) throw_errno("close", path.string());
    if (::rename(temp.path.c_str(), path.c_str()) != 0) throw_errno("rename onto", path.string());
    temp.armed = false;
    if (!sync) return;
    // Without this the rename itself may be lost on a crash, bringing the old file back.
    Fd dir_fd(::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    if (!dir_fd) throw_errno("open directory of", path.string());
    if (::fsync(dir_fd.get()) != 0) throw_errno("fsync directory of", path.string());
}

std::optional<std::string> read_file(const fs::path& path) {
    Fd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
    if (!fd) {
        if (errno == ENOENT) return std::nullopt;
        throw_errno("open", path.string());
    }
    std::string content;
    char buffer[65536];
    for (;;) {
        const ssize_t count = ::read(fd.get(), buffer, sizeof buffer);
        if (count < 0) {
            if (errno == EINTR) continue;
            throw_errno("read", path.string());
        }
        if (count == 0) return content;
        content.append(buffer, static_cast<size_t>(count));
    }
}

void remove_stale_temp_files(const fs::path& dir) {
    // Best effort: a leftover temporary file wastes space but never corrupts state.
    std::error_code error;
    fs::directory_iterator it(dir, error);
    for (; !error && it != fs::directory_iterator(); it.increment(error)) {
        const fs::path& entry = it->path();
        const pid_t pid = temp_file_owner(entry.filename().native());
        if (pid <= 0) continue;
        if (::kill(pid, 0) != 0 && errno == ESRCH) ::unlink(entry.c_str());
    }
}

} // namespace lcloud::state

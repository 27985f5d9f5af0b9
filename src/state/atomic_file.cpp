#include "state/atomic_file.hpp"

#include "common/error.hpp"
#include "common/fd.hpp"

#include <cerrno>
#include <csignal>
#include <fcntl.h>
#include <fmt/format.h>
#include <random>
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
    bool committed = false;
    ~TempFileGuard() {
        if (!committed) ::unlink(path.c_str());
    }
};

} // namespace

void write_file_atomic(const fs::path& path, std::string_view content, mode_t mode) {
    const fs::path dir = path.has_parent_path() ? path.parent_path() : fs::path(".");
    thread_local std::mt19937_64 random{std::random_device{}()};
    TempFileGuard temp{dir / fmt::format(".{}{}{}.{:x}", path.filename().string(), temp_marker,
                                         ::getpid(), random())};
    Fd fd(::open(temp.path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode));
    if (!fd) {
        temp.committed = true; // nothing was created
        throw_errno("create", path.string());
    }
    if (::fchmod(fd.get(), mode) != 0) throw_errno("chmod", temp.path.string());
    write_all(fd.get(), content, path);
    if (::fsync(fd.get()) != 0) throw_errno("fsync", temp.path.string());
    fd.reset();
    if (::rename(temp.path.c_str(), path.c_str()) != 0) throw_errno("rename onto", path.string());
    temp.committed = true;
    Fd dir_fd(::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    if (!dir_fd || ::fsync(dir_fd.get()) != 0) throw_errno("fsync directory", dir.string());
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
    std::error_code error;
    for (const auto& entry : fs::directory_iterator(dir, error)) {
        const std::string name = entry.path().filename().string();
        const size_t marker = name.rfind(temp_marker);
        if (name.empty() || name.front() != '.' || marker == std::string::npos) continue;
        const std::string rest = name.substr(marker + temp_marker.size());
        const pid_t pid = static_cast<pid_t>(std::atol(rest.c_str()));
        if (pid <= 0) continue;
        if (::kill(pid, 0) != 0 && errno == ESRCH) ::unlink(entry.path().c_str());
    }
}

} // namespace lcloud::state

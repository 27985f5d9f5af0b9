#include "runtime/rootfs/safe_path.hpp"

#include <cerrno>
#include <deque>
#include <fcntl.h>
#include <linux/magic.h>
#include <linux/openat2.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/syscall.h>
#include <unistd.h>
#include <vector>

namespace lcloud::runtime::rootfs {

namespace {

// What the kernel allows in a path walk (MAXSYMLINKS).
constexpr int max_symlinks = 40;
// A walk that keeps losing create races is being interfered with; give up rather than spin.
constexpr int max_create_races = 100;

std::deque<std::string> components(std::string_view path) {
    std::deque<std::string> parts;
    size_t start = 0;
    while (start <= path.size()) {
        size_t end = path.find('/', start);
        if (end == std::string_view::npos) end = path.size();
        const std::string_view part = path.substr(start, end - start);
        if (!part.empty() && part != ".") parts.emplace_back(part);
        start = end + 1;
    }
    return parts;
}

std::string read_link(int link_fd, std::string_view path) {
    std::string target(256, '\0');
    for (;;) {
        const ssize_t length = ::readlinkat(link_fd, "", target.data(), target.size());
        if (length < 0) throw_errno("read symlink in", std::string(path));
        if (static_cast<size_t>(length) < target.size()) {
            target.resize(static_cast<size_t>(length));
            return target;
        }
        target.resize(target.size() * 2);
    }
}

// What a refusal says: the kernel's ELOOP alone reads as a symlink loop only.
constexpr const char* no_magic_links = "open, inside the root and following no /proc magic link,";
constexpr const char* no_magic_links_or_loops =
    "open, inside the root and following no /proc magic link or symlink loop,";

// /proc/self/fd/N, /proc/PID/root and the like read as paths that need not be inside the root, or
// anywhere reachable: openat2 refuses to follow them, and so does the walk, rather than walk
// their text inside the root. Only procfs has them; its plain symlinks (/proc/self) are fine.
bool is_magic_link(int parent_fd, const std::string& name, int link_fd) {
    struct statfs st {};
    if (::fstatfs(link_fd, &st) != 0 || st.f_type != PROC_SUPER_MAGIC) return false;
    open_how how{};
    how.flags = O_PATH | O_CLOEXEC;
    how.resolve = RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS;
    const long fd = ::syscall(SYS_openat2, parent_fd, name.c_str(), &how, sizeof how);
    if (fd >= 0) ::close(static_cast<int>(fd));
    return fd < 0 && errno == ELOOP;
}

enum class Leaf { directory, file };

// Walks `path` one component at a time, never following anything the kernel would follow on its
// own: symlinks are read and their targets walked from the root (absolute) or from the current
// directory (relative), ".." stops at the root. Missing components are created.
Fd walk_creating(int root_fd, std::string_view path, Leaf leaf, mode_t mode) {
    const std::string shown(path);
    std::vector<Fd> stack;
    stack.emplace_back(::fcntl(root_fd, F_DUPFD_CLOEXEC, 0));
    if (!stack.back()) throw_errno("duplicate root fd for", shown);
    std::deque<std::string> remaining = components(path);
    int symlinks = 0;
    int races = 0;
    while (!remaining.empty()) {
        const std::string name = std::move(remaining.front());
        remaining.pop_front();
        if (name == "..") {
            if (stack.size() > 1) stack.pop_back();
            continue;
        }
        const bool last = remaining.empty();
        const int parent = stack.back().get();
        Fd next(::openat(parent, name.c_str(), O_PATH | O_NOFOLLOW | O_CLOEXEC));
        if (!next) {
            if (errno != ENOENT) throw_errno("open", shown);
            if (++races > max_create_races) throw SystemError("create", shown, EAGAIN);
            if (last && leaf == Leaf::file) {
                Fd created(::openat(parent, name.c_str(),
                                    O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, mode));
                if (!created && errno != EEXIST) throw_errno("create file", shown);
            } else if (::mkdirat(parent, name.c_str(), mode) != 0 && errno != EEXIST) {
                throw_errno("create directory", shown);
            }
            // Whatever is there now, ours or a racer's, is examined like any existing entry.
            remaining.push_front(name);
            continue;
        }
        struct stat st {};
        if (::fstat(next.get(), &st) != 0) throw_errno("stat", shown);
        if (S_ISLNK(st.st_mode)) {
            if (++symlinks > max_symlinks) throw SystemError("resolve", shown, ELOOP);
            if (is_magic_link(parent, name, next.get()))
                throw SystemError(no_magic_links, shown, ELOOP);
            const std::string target = read_link(next.get(), path);
            auto target_parts = components(target);
            remaining.insert(remaining.begin(), target_parts.begin(), target_parts.end());
            if (!target.empty() && target.front() == '/') stack.resize(1);
            continue;
        }
        if (S_ISDIR(st.st_mode)) {
            if (last && leaf == Leaf::file) throw SystemError("create file", shown, EISDIR);
            stack.push_back(std::move(next));
            continue;
        }
        if (!last || leaf == Leaf::directory) throw SystemError("open", shown, ENOTDIR);
        return next;
    }
    if (leaf == Leaf::file) throw SystemError("create file", shown, EISDIR);
    return std::move(stack.back());
}

} // namespace

Fd open_in_root_if_exists(int root_fd, std::string_view path, int flags) {
    const std::string relative = path.empty() ? std::string(".") : std::string(path);
    open_how how{};
    how.flags = static_cast<uint64_t>(flags | O_CLOEXEC);
    how.resolve = RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS;
    for (int attempt = 0;; ++attempt) {
        const long fd = ::syscall(SYS_openat2, root_fd, relative.c_str(), &how, sizeof how);
        if (fd >= 0) return Fd(static_cast<int>(fd));
        // EAGAIN: a concurrent rename or mount made the kernel unsure the walk stayed inside.
        if ((errno == EAGAIN || errno == EINTR) && attempt < 64) continue;
        const int error = errno;
        if (error == ENOENT) return Fd();
        throw SystemError(error == ELOOP ? no_magic_links_or_loops : "open", std::string(path),
                          error);
    }
}

Fd open_in_root(int root_fd, std::string_view path, int flags) {
    Fd fd = open_in_root_if_exists(root_fd, path, flags);
    if (!fd) throw SystemError("open", std::string(path), ENOENT);
    return fd;
}

Fd ensure_directory_in_root(int root_fd, std::string_view path, mode_t mode) {
    Fd existing = open_in_root_if_exists(root_fd, path, O_PATH | O_DIRECTORY);
    if (existing) return existing;
    return walk_creating(root_fd, path, Leaf::directory, mode);
}

Fd ensure_file_in_root(int root_fd, std::string_view path, mode_t mode) {
    Fd existing = open_in_root_if_exists(root_fd, path, O_PATH);
    if (existing) {
        struct stat st {};
        if (::fstat(existing.get(), &st) != 0) throw_errno("stat", std::string(path));
        if (S_ISDIR(st.st_mode)) throw SystemError("create file", std::string(path), EISDIR);
        return existing;
    }
    return walk_creating(root_fd, path, Leaf::file, mode);
}

std::string fd_path(int fd) {
    return "/proc/self/fd/" + std::to_string(fd);
}

std::string clean_path(std::string_view path) {
    std::vector<std::string> parts;
    for (auto& part : components(path)) {
        if (part == "..") {
            if (!parts.empty()) parts.pop_back();
        } else {
            parts.push_back(std::move(part));
        }
    }
    std::string clean;
    for (const auto& part : parts)
        clean += "/" + part;
    return clean.empty() ? "/" : clean;
}

} // namespace lcloud::runtime::rootfs

#include "runtime/image/layer_dir.hpp"

#include "common/error.hpp"
#include "runtime/image/errors.hpp"

#include <cerrno>
#include <fcntl.h>
#include <linux/openat2.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

namespace lcloud::runtime::image {

namespace {

std::string kind_of(mode_t mode) {
    switch (mode & S_IFMT) {
    case S_IFLNK:
        return "a symlink";
    case S_IFREG:
        return "a regular file";
    case S_IFCHR:
        return "a character device";
    case S_IFBLK:
        return "a block device";
    case S_IFIFO:
        return "a fifo";
    case S_IFSOCK:
        return "a socket";
    default:
        return "not a directory";
    }
}

// One openat2 for the whole path: refuses any symlink and any escape, so it either opens the
// real directory below the root or fails; the step-by-step walk then creates or explains.
Fd open_beneath(int root_fd, const std::string& path) {
    open_how how{};
    how.flags = O_RDONLY | O_DIRECTORY | O_CLOEXEC;
    how.resolve = RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS | RESOLVE_NO_XDEV;
    const long fd = ::syscall(SYS_openat2, root_fd, path.c_str(), &how, sizeof how);
    return Fd(fd < 0 ? -1 : static_cast<int>(fd));
}

} // namespace

std::vector<std::string> entry_components(std::string_view entry, std::string_view path) {
    if (!path.empty() && path.front() == '/')
        throw UnsafeArchive(std::string(entry),
                            "an absolute path; layer entries must be relative to the layer root");
    std::vector<std::string> components;
    size_t start = 0;
    while (start <= path.size()) {
        size_t end = path.find('/', start);
        if (end == std::string_view::npos) end = path.size();
        const std::string_view part = path.substr(start, end - start);
        if (part == "..")
            throw UnsafeArchive(std::string(entry),
                                "a '..' component would lead outside the layer; refused");
        if (!part.empty() && part != ".") components.emplace_back(part);
        start = end + 1;
    }
    return components;
}

std::string join_components(const std::vector<std::string>& components, size_t count) {
    std::string joined;
    for (size_t i = 0; i < count; ++i) {
        if (i > 0) joined += '/';
        joined += components[i];
    }
    return joined;
}

Fd LayerDir::walk(const std::vector<std::string>& components, size_t count, bool create,
                  std::string_view entry) {
    Fd current(::fcntl(root_fd_, F_DUPFD_CLOEXEC, 0));
    if (!current) throw_errno("duplicate layer directory fd for", std::string(entry));
    for (size_t i = 0; i < count; ++i) {
        const char* name = components[i].c_str();
        Fd next(::openat(current.get(), name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
        if (!next && errno == ENOENT) {
            if (!create) return Fd();
            if (::mkdirat(current.get(), name, 0755) != 0 && errno != EEXIST)
                throw_errno("create directory '" + join_components(components, i + 1) + "' for",
                            "layer entry '" + std::string(entry) + "'");
            next =
                Fd(::openat(current.get(), name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
        }
        if (!next) {
            const int error = errno;
            struct stat st {};
            if ((error == ELOOP || error == ENOTDIR) &&
                ::fstatat(current.get(), name, &st, AT_SYMLINK_NOFOLLOW) == 0)
                throw UnsafeArchive(std::string(entry),
                                    "its parent '" + join_components(components, i + 1) + "' is " +
                                        kind_of(st.st_mode) +
                                        "; entries may only be written into real directories "
                                        "of the layer");
            throw SystemError("open directory '" + join_components(components, i + 1) + "' for",
                              "layer entry '" + std::string(entry) + "'", error);
        }
        current = std::move(next);
    }
    return current;
}

int LayerDir::parent_of(const std::vector<std::string>& components, std::string_view entry) {
    const size_t count = components.size() - 1;
    std::string path = count == 0 ? "." : join_components(components, count);
    if (cached_ && path == cached_path_) return cached_.get();
    Fd fd = open_beneath(root_fd_, path);
    if (!fd) fd = walk(components, count, true, entry);
    cached_ = std::move(fd);
    cached_path_ = std::move(path);
    return cached_.get();
}

Fd LayerDir::existing_parent_of(const std::vector<std::string>& components,
                                std::string_view entry) {
    const size_t count = components.size() - 1;
    Fd fd = open_beneath(root_fd_, count == 0 ? "." : join_components(components, count));
    return fd ? std::move(fd) : walk(components, count, false, entry);
}

Fd LayerDir::existing_dir(const std::vector<std::string>& components, std::string_view entry) {
    Fd fd = open_beneath(root_fd_,
                         components.empty() ? "." : join_components(components, components.size()));
    return fd ? std::move(fd) : walk(components, components.size(), false, entry);
}

} // namespace lcloud::runtime::image

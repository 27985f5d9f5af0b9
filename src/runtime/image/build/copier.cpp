#include "runtime/image/build/copier.hpp"

#include "common/error.hpp"
#include "common/strings.hpp"
#include "runtime/rootfs/safe_path.hpp"

#include <cerrno>
#include <fcntl.h>
#include <map>
#include <sys/stat.h>
#include <unistd.h>
#include <vector>

namespace lcloud::runtime::image::build {

namespace {

std::pair<uid_t, gid_t> owner_of(const SourceEntry& entry, const CopyOptions& options) {
    return options.owner.value_or(std::make_pair(entry.st.st_uid, entry.st.st_gid));
}

mode_t mode_of(const SourceEntry& entry, const CopyOptions& options) {
    return options.mode.value_or(entry.st.st_mode & 07777);
}

std::string join(const std::string& dir, const std::string& name) {
    return dir == "/" ? "/" + name : dir + "/" + name;
}

} // namespace

std::pair<std::string, std::string> split_last(const std::string& path) {
    const std::string clean = rootfs::clean_path(path);
    if (clean == "/") return {"/", ""};
    const size_t slash = clean.rfind('/');
    return {slash == 0 ? "/" : clean.substr(0, slash), clean.substr(slash + 1)};
}

bool Copier::is_directory(const std::string& path) const {
    try {
        return static_cast<bool>(
            rootfs::open_in_root_if_exists(root_fd_, path, O_PATH | O_DIRECTORY));
    } catch (const SystemError&) {
        return false; // ENOTDIR and the like: not a directory
    }
}

Fd Copier::ensure_directory(const std::string& path, std::pair<uid_t, gid_t> owner) {
    const std::string clean = rootfs::clean_path(path);
    Fd current(::openat(root_fd_, ".", O_PATH | O_DIRECTORY | O_CLOEXEC));
    if (!current) throw_errno("open the image root for", clean);
    std::string so_far;
    for (const std::string& name : split(clean.substr(1), '/')) {
        if (name.empty()) continue;
        so_far += "/" + name;
        Fd next(
            ::openat(current.get(), name.c_str(), O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
        if (!next && errno == ENOENT) {
            if (::mkdirat(current.get(), name.c_str(), 0755) != 0 && errno != EEXIST)
                throw_errno("create directory", so_far);
            if (::fchownat(current.get(), name.c_str(), owner.first, owner.second,
                           AT_SYMLINK_NOFOLLOW) != 0)
                throw_errno("chown", so_far);
            next = Fd(::openat(current.get(), name.c_str(),
                               O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
        }
        if (!next && errno == ENOTDIR) {
            struct stat st {};
            if (::fstatat(current.get(), name.c_str(), &st, AT_SYMLINK_NOFOLLOW) == 0 &&
                S_ISLNK(st.st_mode)) {
                // Followed as the image would follow it: inside its root.
                next = rootfs::open_in_root_if_exists(root_fd_, so_far, O_PATH | O_DIRECTORY);
                if (!next)
                    throw InvalidValue(so_far + " in the image is a symlink to nowhere; a " +
                                       "directory is needed there");
            } else {
                throw InvalidValue(so_far + " in the image is not a directory; a directory is " +
                                   "needed there");
            }
        }
        if (!next) throw_errno("open directory", so_far);
        current = std::move(next);
    }
    return current;
}

void Copier::copy(const SourceTree& tree, const std::string& path, const std::string& dest,
                  const CopyOptions& options) {
    const std::string base = rootfs::clean_path(dest);
    // Destination directories by their path in the image, opened once.
    std::map<std::string, Fd> dirs;
    const auto directory = [&](const std::string& dir_path, std::pair<uid_t, gid_t> owner) -> int {
        auto found = dirs.find(dir_path);
        if (found == dirs.end())
            found = dirs.emplace(dir_path, ensure_directory(dir_path, owner)).first;
        return found->second.get();
    };
    const std::pair<uid_t, gid_t> parent_owner = options.owner.value_or(std::make_pair(0u, 0u));
    tree.walk(path, [&](const SourceEntry& entry) {
        const std::string below = entry.path.size() > path.size()
                                      ? entry.path.substr(path.empty() ? 0 : path.size() + 1)
                                      : "";
        if (S_ISDIR(entry.st.st_mode)) {
            const std::string target = below.empty() ? base : join(base, below);
            const bool existed = is_directory(target);
            const int fd = directory(target, owner_of(entry, options));
            if (!existed && target != "/") {
                const auto [owner_uid, owner_gid] = owner_of(entry, options);
                if (::fchownat(fd, "", owner_uid, owner_gid, AT_EMPTY_PATH) != 0)
                    throw_errno("chown", target);
                const std::string at = rootfs::fd_path(fd);
                if (::chmod(at.c_str(), mode_of(entry, options)) != 0) throw_errno("chmod", target);
            }
            return;
        }
        if (below.empty()) {
            const auto [dir, name] = split_last(base);
            if (name.empty()) throw InvalidValue("cannot copy a file onto the image's root '/'");
            copy_entry(entry, directory(dir, parent_owner), name, base, options);
            return;
        }
        const auto [dir, name] = split_last(join(base, below));
        copy_entry(entry, directory(dir, parent_owner), name, join(base, below), options);
    });
}

void Copier::copy_entry(const SourceEntry& entry, int dest_parent, const std::string& name,
                        const std::string& shown, const CopyOptions& options) {
    const mode_t type = entry.st.st_mode & S_IFMT;
    if (type == S_IFSOCK) return; // an image cannot hold one
    struct stat existing {};
    if (::fstatat(dest_parent, name.c_str(), &existing, AT_SYMLINK_NOFOLLOW) == 0) {
        if (S_ISDIR(existing.st_mode))
            throw InvalidValue("cannot replace the directory " + shown + " in the image with " +
                               "a file from " + entry.path);
        if (::unlinkat(dest_parent, name.c_str(), 0) != 0) throw_errno("replace", shown);
    }
    const auto [uid, gid] = owner_of(entry, options);
    const timespec times[2] = {entry.st.st_mtim, entry.st.st_mtim};
    if (type == S_IFLNK) {
        std::vector<char> target(static_cast<size_t>(entry.st.st_size) + 2);
        const ssize_t length =
            ::readlinkat(entry.parent_fd, entry.name.c_str(), target.data(), target.size() - 1);
        if (length < 0) throw_errno("read symlink", entry.path);
        target[static_cast<size_t>(length)] = '\0';
        if (::symlinkat(target.data(), dest_parent, name.c_str()) != 0)
            throw_errno("create symlink", shown);
        if (::fchownat(dest_parent, name.c_str(), uid, gid, AT_SYMLINK_NOFOLLOW) != 0)
            throw_errno("chown", shown);
        ::utimensat(dest_parent, name.c_str(), times, AT_SYMLINK_NOFOLLOW);
        return;
    }
    if (type != S_IFREG) {
        if (::mknodat(dest_parent, name.c_str(), type | 0600, entry.st.st_rdev) != 0)
            throw_errno("create device node", shown);
    } else {
        Fd from(::openat(entry.parent_fd, entry.name.c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC));
        if (!from) throw_errno("open", entry.path);
        Fd to(::openat(dest_parent, name.c_str(),
                       O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600));
        if (!to) throw_errno("create", shown);
        copy_data(from.get(), to.get(), shown);
    }
    // chown clears setuid bits: the mode comes after it.
    if (::fchownat(dest_parent, name.c_str(), uid, gid, AT_SYMLINK_NOFOLLOW) != 0)
        throw_errno("chown", shown);
    if (::fchmodat(dest_parent, name.c_str(), mode_of(entry, options), 0) != 0)
        throw_errno("chmod", shown);
    if (::utimensat(dest_parent, name.c_str(), times, AT_SYMLINK_NOFOLLOW) != 0)
        throw_errno("set times of", shown);
}

void Copier::copy_data(int from, int to, const std::string& shown) {
    std::vector<char> buffer(256 * 1024);
    for (;;) {
        const ssize_t count = ::read(from, buffer.data(), buffer.size());
        if (count < 0 && errno == EINTR) continue;
        if (count < 0) throw_errno("read the source of", shown);
        if (count == 0) return;
        for (ssize_t done = 0; done < count;) {
            const ssize_t written =
                ::write(to, buffer.data() + done, static_cast<size_t>(count - done));
            if (written < 0 && errno == EINTR) continue;
            if (written < 0) throw_errno("write", shown);
            done += written;
        }
    }
}

} // namespace lcloud::runtime::image::build

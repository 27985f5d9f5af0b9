#include "runtime/rootfs/mounts.hpp"

#include "common/error.hpp"
#include "runtime/rootfs/cgroup_mount.hpp"
#include "runtime/rootfs/safe_path.hpp"

#include <cerrno>
#include <fcntl.h>
#include <filesystem>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/statvfs.h>
#include <sys/sysmacros.h>

namespace lcloud::runtime::rootfs {

namespace {

// Linux reports nosymfollow in statfs since 5.10; glibc 2.36 has no name for it yet.
constexpr unsigned long st_nosymfollow = 0x2000;

// The per-mount flags a bind remount keeps unless told otherwise.
unsigned long kept_mount_flags(const struct statfs& st) {
    const auto flags = static_cast<unsigned long>(st.f_flags);
    unsigned long kept = 0;
    if (flags & ST_RDONLY) kept |= MS_RDONLY;
    if (flags & ST_NOSUID) kept |= MS_NOSUID;
    if (flags & ST_NODEV) kept |= MS_NODEV;
    if (flags & ST_NOEXEC) kept |= MS_NOEXEC;
    if (flags & st_nosymfollow) kept |= MS_NOSYMFOLLOW;
    return kept;
}

bool is_mount_root(const struct statx& stx) {
    return (stx.stx_attributes_mask & STATX_ATTR_MOUNT_ROOT) &&
           (stx.stx_attributes & STATX_ATTR_MOUNT_ROOT);
}

void set_propagation(int mount_fd, unsigned long propagation, const std::string& destination) {
    if (::mount(nullptr, fd_path(mount_fd).c_str(), nullptr, propagation, nullptr) != 0)
        throw_errno("set mount propagation of", destination);
}

// proc and sysfs on a symlink is how CVE-2019-19921 redirected /proc to a directory the
// container controls; runc refuses it too.
void refuse_symlink_destination(int root_fd, const oci::Mount& mount) {
    const Fd entry = open_in_root_if_exists(root_fd, mount.destination, O_PATH | O_NOFOLLOW);
    struct stat st {};
    if (entry && ::fstat(entry.get(), &st) == 0 && S_ISLNK(st.st_mode))
        throw RootfsError(mount.type + " must be mounted on an ordinary directory, but " +
                          mount.destination + " in the rootfs is a symlink");
}

void mount_filesystem(int root_fd, const oci::Mount& mount, const MountOptions& options) {
    const std::string& destination = mount.destination;
    if (mount.type == "proc" || mount.type == "sysfs") refuse_symlink_destination(root_fd, mount);
    Fd target = ensure_directory_in_root(root_fd, destination, 0755);
    struct stat before {};
    if (::fstat(target.get(), &before) != 0) throw_errno("stat", destination);
    const std::string& source = mount.source.empty() ? mount.type : mount.source;
    mount_onto(source.c_str(), target.get(), mount.type.c_str(), options.flags, options.data,
               mount.type, destination);
    if (!options.propagation) return;
    // A remount changes the mount the destination already was, so the fd is on its root.
    const Fd mounted = (options.flags & MS_REMOUNT) ? std::move(target)
                                                    : reopen_mount(root_fd, destination, before);
    set_propagation(mounted.get(), options.propagation, destination);
}

void mount_bind(int root_fd, const oci::Mount& mount, const MountOptions& options) {
    const std::string& destination = mount.destination;
    if (mount.source.empty()) throw RootfsError("bind mount on " + destination + " has no source");
    const Fd source(::open(mount.source.c_str(), O_PATH | O_CLOEXEC));
    if (!source) throw_errno("open bind source " + mount.source + " for", destination);
    struct stat source_stat {};
    if (::fstat(source.get(), &source_stat) != 0) throw_errno("stat", mount.source);
    const Fd target = S_ISDIR(source_stat.st_mode)
                          ? ensure_directory_in_root(root_fd, destination, 0755)
                          : ensure_file_in_root(root_fd, destination, 0644);
    struct stat before {};
    if (::fstat(target.get(), &before) != 0) throw_errno("stat", destination);
    mount_onto(fd_path(source.get()).c_str(), target.get(), nullptr,
               MS_BIND | (options.recursive ? MS_REC : 0), "", "bind of " + mount.source,
               destination);
    // A bind ignores every other flag; they take a second, remounting call.
    const unsigned long extra = options.flags & ~(MS_BIND | MS_REC | MS_REMOUNT | MS_SILENT);
    if (!extra && !options.propagation) return;
    const Fd mounted = reopen_mount(root_fd, destination, before, &source_stat);
    if (extra) remount_bind(fd_path(mounted.get()), extra, options.clear_flags, destination);
    if (options.propagation) set_propagation(mounted.get(), options.propagation, destination);
}

} // namespace

void mount_onto(const char* source, int target_fd, const char* type, unsigned long flags,
                const std::string& data, const std::string& what, const std::string& destination) {
    if (::mount(source, fd_path(target_fd).c_str(), type, flags,
                data.empty() ? nullptr : data.c_str()) != 0)
        throw_errno("mount " + what + " on", destination);
}

Fd reopen_mount(int root_fd, const std::string& destination, const struct stat& before,
                const struct stat* source) {
    Fd mounted = open_in_root(root_fd, destination, O_PATH);
    struct statx stx {};
    if (::statx(mounted.get(), "", AT_EMPTY_PATH | AT_SYMLINK_NOFOLLOW, STATX_TYPE | STATX_INO,
                &stx) != 0)
        throw_errno("stat", destination);
    const dev_t device = makedev(stx.stx_dev_major, stx.stx_dev_minor);
    const bool as_before = device == before.st_dev && stx.stx_ino == before.st_ino;
    const bool as_source = source && device == source->st_dev && stx.stx_ino == source->st_ino;
    // A bind of a path onto itself looks as it did before; only the source identifies it then.
    if (!is_mount_root(stx) || (source ? !as_source : as_before))
        throw RootfsError(destination +
                          " changed while it was being mounted on; refusing to change the mount "
                          "it leads to now");
    return mounted;
}

void remount_bind(const std::string& mount_path, unsigned long flags, unsigned long clear_flags,
                  const std::string& destination) {
    struct statfs st {};
    if (::statfs(mount_path.c_str(), &st) != 0) throw_errno("statfs", destination);
    const unsigned long all = MS_BIND | MS_REMOUNT | (flags & ~(MS_BIND | MS_REC | MS_REMOUNT)) |
                              (kept_mount_flags(st) & ~clear_flags);
    if (::mount(nullptr, mount_path.c_str(), nullptr, all, nullptr) != 0)
        throw_errno("remount", destination);
}

std::string mount_point_of(const std::string& path) {
    std::filesystem::path current = std::filesystem::absolute(path).lexically_normal();
    for (;;) {
        struct statx stx {};
        if (::statx(AT_FDCWD, current.c_str(), AT_SYMLINK_NOFOLLOW, STATX_TYPE, &stx) != 0)
            throw_errno("stat", current.string());
        if (is_mount_root(stx) || current == current.root_path()) return current.string();
        current = current.parent_path();
    }
}

void mount_in_root(int root_fd, const oci::Mount& mount, const MountContext& context) {
    if (mount.destination.empty()) throw RootfsError("a mount has no destination");
    const MountOptions options = parse_mount_options(mount.options);
    if (options.bind || mount.type == "bind") return mount_bind(root_fd, mount, options);
    if (mount.type == "cgroup") return mount_cgroup(root_fd, mount, options, context);
    if (mount.type.empty())
        throw RootfsError("mount on " + mount.destination + " has no type and no bind option");
    mount_filesystem(root_fd, mount, options);
}

} // namespace lcloud::runtime::rootfs

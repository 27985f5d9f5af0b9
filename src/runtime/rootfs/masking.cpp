#include "runtime/rootfs/masking.hpp"

#include "common/error.hpp"
#include "common/fd.hpp"
#include "runtime/rootfs/mounts.hpp"
#include "runtime/rootfs/safe_path.hpp"

#include <fcntl.h>
#include <fmt/format.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>

namespace lcloud::runtime::rootfs {

namespace {

// The container's /dev/null, checked to be what it claims: a rootfs without a /dev tmpfs brings
// its own /dev, and binding "its /dev/null" unchecked would put any file it names over the masked
// paths, or hide nothing.
Fd open_dev_null(int root_fd, const std::string& masked) {
    Fd null = open_in_root_if_exists(root_fd, "/dev/null", O_PATH | O_NOFOLLOW);
    if (!null)
        throw RootfsError("cannot mask " + masked + ": the container has no /dev/null to bind");
    struct stat st {};
    if (::fstat(null.get(), &st) != 0) throw_errno("stat", "/dev/null");
    if (S_ISLNK(st.st_mode))
        throw RootfsError("cannot mask " + masked +
                          ": the container's /dev/null is a symlink, refusing to bind what it "
                          "points to");
    if (!S_ISCHR(st.st_mode) || st.st_rdev != makedev(1, 3))
        throw RootfsError(fmt::format("cannot mask {}: the container's /dev/null is not the "
                                      "character device 1:3 (mode {:o}, device {}:{})",
                                      masked, st.st_mode, major(st.st_rdev), minor(st.st_rdev)));
    return null;
}

} // namespace

void mask_paths(int root_fd, const std::vector<std::string>& paths) {
    Fd null;
    for (const auto& path : paths) {
        const Fd target = open_in_root_if_exists(root_fd, path, O_PATH);
        if (!target) continue;
        struct stat st {};
        if (::fstat(target.get(), &st) != 0) throw_errno("stat", path);
        if (S_ISDIR(st.st_mode)) {
            mount_onto("tmpfs", target.get(), "tmpfs", MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC,
                       "mode=755", "read-only tmpfs", path);
            continue;
        }
        if (!null) null = open_dev_null(root_fd, path);
        mount_onto(fd_path(null.get()).c_str(), target.get(), nullptr, MS_BIND, "", "/dev/null",
                   path);
    }
}

void make_paths_readonly(int root_fd, const std::vector<std::string>& paths) {
    for (const auto& path : paths) {
        const Fd target = open_in_root_if_exists(root_fd, path, O_PATH);
        if (!target) continue;
        struct stat before {};
        if (::fstat(target.get(), &before) != 0) throw_errno("stat", path);
        mount_onto(fd_path(target.get()).c_str(), target.get(), nullptr, MS_BIND | MS_REC, "",
                   "bind of itself", path);
        const Fd mounted = reopen_mount(root_fd, path, before, &before);
        remount_bind(fd_path(mounted.get()), MS_RDONLY, 0, path);
    }
}

} // namespace lcloud::runtime::rootfs

#include "runtime/rootfs/pivot.hpp"

#include "common/error.hpp"
#include "common/fd.hpp"
#include "runtime/rootfs/mounts.hpp"

#include <cerrno>
#include <fcntl.h>
#include <linux/magic.h>
#include <sys/mount.h>
#include <sys/statfs.h>
#include <sys/syscall.h>
#include <unistd.h>

namespace lcloud::runtime::rootfs {

namespace {

// The initramfs ("rootfs") is a ramfs or tmpfs that is never a mount's child, which pivot_root
// needs of the old root. Any other EINVAL is a real error and must not weaken the isolation.
bool root_is_initramfs() {
    struct statfs st {};
    return ::statfs("/", &st) == 0 && (st.f_type == RAMFS_MAGIC || st.f_type == TMPFS_MAGIC);
}

void move_root(const std::string& rootfs_path) {
    if (::mount(".", "/", nullptr, MS_MOVE, nullptr) != 0)
        throw_errno("move onto / the rootfs", rootfs_path);
    if (::chroot(".") != 0) throw_errno("chroot into", rootfs_path);
}

} // namespace

void enter_root(int root_fd, const std::string& rootfs_path, bool readonly) {
    if (::fchdir(root_fd) != 0) throw_errno("change directory to", rootfs_path);
    if (::syscall(SYS_pivot_root, ".", ".") == 0) {
        // "." is the old root now, stacked on the new one.
        if (::mount(nullptr, ".", nullptr, MS_SLAVE | MS_REC, nullptr) != 0)
            throw_errno("make the old root a slave, under", rootfs_path);
        if (::umount2(".", MNT_DETACH) != 0) throw_errno("unmount the old root, over", rootfs_path);
    } else {
        const int error = errno;
        if (error != EINVAL || !root_is_initramfs())
            throw SystemError("pivot_root into", rootfs_path, error);
        move_root(rootfs_path);
    }
    if (::chdir("/") != 0) throw_errno("change directory to / in", rootfs_path);
    if (readonly) make_root_readonly();
}

void make_root_readonly() {
    remount_bind("/", MS_RDONLY, 0, "/");
}

} // namespace lcloud::runtime::rootfs

#include "runtime/rootfs/pivot.hpp"

#include "common/error.hpp"
#include "common/fd.hpp"
#include "runtime/rootfs/mounts.hpp"

#include <cerrno>
#include <fcntl.h>
#include <fstream>
#include <linux/magic.h>
#include <sstream>
#include <sys/mount.h>
#include <sys/statfs.h>
#include <sys/syscall.h>
#include <unistd.h>
#include <vector>

namespace lcloud::runtime::rootfs {

namespace {

// The initramfs ("rootfs") is a ramfs or tmpfs that is never a mount's child, which pivot_root
// needs of the old root. Any other EINVAL is a real error and must not weaken the isolation.
bool root_is_initramfs() {
    struct statfs st {};
    return ::statfs("/", &st) == 0 && (st.f_type == RAMFS_MAGIC || st.f_type == TMPFS_MAGIC);
}

// "\040" in /proc/self/mountinfo is a space, and so on.
std::string unescape_mount_path(const std::string& field) {
    std::string out;
    for (size_t i = 0; i < field.size(); ++i) {
        if (field[i] == '\\' && i + 3 < field.size()) {
            out += static_cast<char>(std::stoi(field.substr(i + 1, 3), nullptr, 8));
            i += 3;
        } else {
            out += field[i];
        }
    }
    return out;
}

// Without pivot_root the old root's mounts stay in the container's mount namespace, merely out
// of its sight: a VM's 9p share there would stay mounted, and QEMU then refuses to save the VM.
// So every mount that neither holds the new root nor lies inside it goes first (as runc's
// msMoveRoot does for proc and sys); they are slaves, so the host's copies stay.
void detach_mounts_outside(const std::string& rootfs_path) {
    std::ifstream mountinfo("/proc/self/mountinfo");
    std::vector<std::string> outside;
    for (std::string line; std::getline(mountinfo, line);) {
        std::istringstream fields(line);
        std::string id, parent, device, root, mount_point;
        fields >> id >> parent >> device >> root >> mount_point;
        const std::string path = unescape_mount_path(mount_point);
        const bool inside = path == rootfs_path || path.starts_with(rootfs_path + "/");
        const bool holds = path == "/" || rootfs_path.starts_with(path + "/");
        if (!inside && !holds) outside.push_back(path);
    }
    for (const auto& path : outside)
        if (::umount2(path.c_str(), MNT_DETACH) != 0 && errno != EINVAL && errno != ENOENT)
            throw_errno("detach the mount outside the rootfs at " + path, rootfs_path);
}

void move_root(int root_fd, const std::string& rootfs_path) {
    // The root's path as this namespace sees it, whatever links the bundle's path went through.
    char seen[4096] = {};
    const auto link = "/proc/self/fd/" + std::to_string(root_fd);
    const ssize_t length = ::readlink(link.c_str(), seen, sizeof seen - 1);
    if (length <= 0) throw_errno("read the path of", rootfs_path);
    detach_mounts_outside(std::string(seen, static_cast<size_t>(length)));
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
        move_root(root_fd, rootfs_path);
    }
    if (::chdir("/") != 0) throw_errno("change directory to / in", rootfs_path);
    if (readonly) make_root_readonly();
}

void make_root_readonly() {
    remount_bind("/", MS_RDONLY, 0, "/");
}

} // namespace lcloud::runtime::rootfs

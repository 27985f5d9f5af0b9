#pragma once

// Making the prepared rootfs the process's "/".

#include <string>

namespace lcloud::runtime::rootfs {

// Changes root to the mount `root_fd` is the root of (the rootfs bind-mounted onto itself):
// pivot_root(".", ".") from inside it, which stacks the old root on top of the new one, then a
// lazy unmount of the old root, after making it a slave so that the unmount does not propagate
// back to the host (runc's way: no put_old directory needed). Then chdir("/"), and when
// `readonly`, make_root_readonly().
//
// A rootfs on the initramfs cannot be pivoted away from (pivot_root: EINVAL). Then the rootfs is
// moved over "/" (MS_MOVE) and chroot'ed into, as runc's --no-pivot does. That leaves the old
// root's mounts in the namespace, reachable by a process that can chroot; it exists for the box's
// initramfs, where the host is the VM's own initramfs and nothing else.
//
// `rootfs_path` is the host path of the rootfs, for messages. Throws SystemError.
void enter_root(int root_fd, const std::string& rootfs_path, bool readonly);

// Remounts "/" read-only (MS_BIND|MS_REMOUNT|MS_RDONLY), keeping its nosuid, nodev, noexec.
void make_root_readonly();

} // namespace lcloud::runtime::rootfs

#pragma once

// linux.maskedPaths and linux.readonlyPaths, applied after the pivot so that every path is the
// container's, and still resolved inside the root: a symlink among them cannot send a mount
// elsewhere. They need the container's /proc mounted (mounts go through /proc/self/fd).

#include <string>
#include <vector>

namespace lcloud::runtime::rootfs {

// Hides each path: a file (or device, socket...) behind a bind of the container's /dev/null, a
// directory behind an empty read-only tmpfs. A path that does not exist is skipped. /dev/null
// must itself be the character device 1:3, reached without a symlink as its last component: a
// rootfs whose /dev/null is a symlink or anything else gets RootfsError, never a bind of what it
// leads to.
void mask_paths(int root_fd, const std::vector<std::string>& paths);

// Makes each path read-only: a recursive bind onto itself, remounted read-only, keeping its
// nosuid, nodev and noexec. Submounts keep their own flags. A path that does not exist is skipped.
void make_paths_readonly(int root_fd, const std::vector<std::string>& paths);

} // namespace lcloud::runtime::rootfs

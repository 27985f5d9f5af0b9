#pragma once

// The container's root file system from its config, set up by the container's init process in
// its new mount namespace (and user namespace, if any) before it execs the container's program.
//
// In two halves because the OCI createContainer hooks run between them: after the mounts, before
// the pivot. A caller with nothing to do in between calls prepare_rootfs.

#include "common/fd.hpp"
#include "runtime/oci/config.hpp"
#include "runtime/rootfs/mounts.hpp"

#include <filesystem>
#include <map>
#include <string>

namespace lcloud::runtime::rootfs {

// Before the pivot, in order:
// - the propagation of the whole mount tree: linux.rootfsPropagation, recursively slave when
//   unset (runc's default), so that nothing mounted from here on reaches the host;
// - the mount holding the rootfs's parent made private (pivot_root refuses a shared one), then
//   the rootfs bind-mounted onto itself, recursively (pivot_root needs a mount point);
// - the config's mounts, in order (mount_in_root). A read-only /dev file system is mounted
//   read-write and made read-only after its devices exist;
// - when the config mounts a file system (not a bind) at /dev: the default devices and the /dev
//   symlinks; in any case linux.devices;
// - linux.sysctl (apply_sysctls).
// Returns an O_PATH fd of the rootfs, the root of its bind mount, for enter_rootfs. Throws
// SystemError naming the mount destination or device path, RootfsError.
Fd mount_rootfs(const oci::Config& config, const std::filesystem::path& rootfs,
                const MountContext& context);

// After the pivot's preparation: enter_root (pivot_root into `root`), then, with paths now the
// container's, linux.maskedPaths and linux.readonlyPaths, then root.readonly, then
// linux.rootfsPropagation on the new "/" (as runc: set before the pivot, it would be set on the
// host's mount). The process's cwd is "/" afterwards; `root` may be closed.
void enter_rootfs(const oci::Config& config, const Fd& root, const std::filesystem::path& rootfs);

// mount_rootfs, then enter_rootfs.
void prepare_rootfs(const oci::Config& config, const std::filesystem::path& rootfs,
                    const MountContext& context);

// Writes each value to /proc/sys/<key, dots as slashes> under the root, which must be a procfs
// (the config's /proc mount). Keys with "/", "..", or an empty component are refused
// (RootfsError) before anything is written.
void apply_sysctls(int root_fd, const std::map<std::string, std::string>& sysctls);

} // namespace lcloud::runtime::rootfs

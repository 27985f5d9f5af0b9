#pragma once

// The OCI `mounts` of a config, placed inside the container's rootfs. Every destination is
// resolved (and created) inside the root with safe_path, and the mount is made onto the opened
// destination through its /proc/self/fd path, so that a destination swapped for a symlink
// between the check and the mount cannot send the mount out of the rootfs (CVE-2021-30465).

#include "common/fd.hpp"
#include "runtime/oci/config.hpp"

#include <functional>
#include <string>
#include <sys/stat.h>
#include <vector>

namespace lcloud::runtime::rootfs {

struct MountOptions {
    unsigned long flags = 0;       // MS_* to set, MS_BIND and MS_REC included for bind and rbind
    unsigned long clear_flags = 0; // MS_* an option turned off explicitly: rw, suid, dev, exec...
    unsigned long propagation = 0; // MS_PRIVATE, MS_SHARED, MS_SLAVE or MS_UNBINDABLE, | MS_REC
    std::string data;              // every other option, for the file system: "mode=755,size=1m"
    bool bind = false;
    bool recursive = false;
};

// The runtime spec's options; of two contradicting ones ("ro", "rw") the last wins, and so does
// the last propagation option. Throws RootfsError for the spec's options lcloud does not
// implement (the recursive "rro"-style ones, tmpcopyup, idmap, ridmap) rather than hand them to
// the file system as data.
MountOptions parse_mount_options(const std::vector<std::string>& options);

// What a mount needs to know beyond the config. Only `cgroup` mounts use it today.
struct MountContext {
    // The container's cgroup directories on the host, one per hierarchy, as
    // cgroups::Cgroup::paths() gives them ("/sys/fs/cgroup/memory/lcloud/web",
    // "/sys/fs/cgroup/unified/lcloud/web"). The layout follows from them: only cgroup2
    // directories make a v2 machine; otherwise (v1, hybrid) a `cgroup` mount is a tmpfs holding
    // one bind per hierarchy, named as the hierarchy's mount point is ("memory", "cpu,cpuacct",
    // "unified"), with a symlink per controller of a co-mounted one ("cpu" -> "cpu,cpuacct").
    std::vector<std::string> cgroup_paths;
    // The init process is in its own cgroup namespace (unshared after joining the cgroup). On v2
    // a fresh cgroup2 mount then shows the container's cgroup as its root; without one it would
    // show the host's whole tree, so the container's directory is bind-mounted instead.
    bool cgroup_namespace = false;
    // When set, cgroup_paths are not known yet: mount_rootfs calls this before the first cgroup
    // mount and uses the paths it returns. The init mounts the rest of the rootfs meanwhile, while
    // the runtime creates the cgroup.
    std::function<std::vector<std::string>()> wait_for_cgroup;
};

// Mounts one entry of the config's `mounts` under the root. Types proc, sysfs, tmpfs, devpts,
// mqueue and any other file system are mounted with their flags and data; `bind` (the type or the
// option) and `rbind` bind the host path `source` onto a directory or a file, as the source is,
// then remount with MS_BIND|MS_REMOUNT for ro, nosuid, nodev, noexec and the like; `cgroup` as
// MountContext says. Propagation options are applied afterwards, on the new mount. proc and sysfs
// are refused on a destination that is a symlink in the rootfs. Throws SystemError naming the
// destination, RootfsError.
void mount_in_root(int root_fd, const oci::Mount& mount, const MountContext& context);

// --- Building blocks, shared with the cgroup mount, masking and the root remount.

// mount(2) onto the file `target_fd` holds open. Throws SystemError("mount <what> on",
// destination).
void mount_onto(const char* source, int target_fd, const char* type, unsigned long flags,
                const std::string& data, const std::string& what, const std::string& destination);

// The mount a previous mount_onto placed at `destination`, reopened: flag and propagation
// changes apply to a mount's root, which the fd opened before the mount is not. `before` is the
// stat of the destination before the mount; `source`, for a bind, the stat of its source. Throws
// RootfsError when the destination no longer leads to that new mount.
Fd reopen_mount(int root_fd, const std::string& destination, const struct stat& before,
                const struct stat* source = nullptr);

// MS_BIND|MS_REMOUNT of the mount whose root `mount_path` is, with `flags` (ro, nosuid, ...).
// The mount's own ro, nosuid, nodev, noexec and nosymfollow are kept unless `clear_flags` says
// otherwise: a bind of a read-only source asked to be nosuid stays read-only, and in a user
// namespace those flags are locked on and could not be dropped anyway. The atime flags stay as
// they are unless `flags` sets one.
void remount_bind(const std::string& mount_path, unsigned long flags, unsigned long clear_flags,
                  const std::string& destination);

// The host directory on which the mount holding host path `path` is mounted.
std::string mount_point_of(const std::string& path);

} // namespace lcloud::runtime::rootfs

#pragma once

#include "runtime/oci/config.hpp"
#include "runtime/rootfs/mounts.hpp"

namespace lcloud::runtime::rootfs {

// A `cgroup` mount, as MountContext describes: on v2 one cgroup2 mount (in a cgroup namespace)
// or a bind of the container's cgroup2 directory; on v1 and hybrid a tmpfs with a bind of the
// container's directory per hierarchy. Flags (ro, nosuid, nodev, noexec) go to every part; the
// tmpfs is made read-only last, after its directories were made. Propagation options are ignored.
void mount_cgroup(int root_fd, const oci::Mount& mount, const MountOptions& options,
                  const MountContext& context);

} // namespace lcloud::runtime::rootfs

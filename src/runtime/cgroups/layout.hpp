#pragma once

// Where the cgroup hierarchies of this machine are, and where a container's cgroup goes in each.

#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

namespace lcloud::runtime::cgroups {

enum class Layout { v1, hybrid, v2 };

std::string_view to_string(Layout layout);

// By file system magic: cgroup2 at `root` is v2; a tmpfs `root` with cgroup2 at `root`/unified is
// hybrid; a tmpfs (or a cgroup v1) `root` otherwise is v1. Throws Error for anything else, since a
// missing /sys/fs/cgroup mount would otherwise pass for v1 and fail later, far from the cause.
Layout detect_layout(const std::filesystem::path& root = "/sys/fs/cgroup");

// One mounted cgroup hierarchy.
struct Hierarchy {
    std::filesystem::path mountpoint;
    std::string root = "/"; // the cgroup mounted there, as mountinfo's 4th field says
    std::string device;     // "0:29": one per hierarchy, so bind mounts of it are recognized
    bool unified = false;   // cgroup2
    // v1: the controllers bound to it ("cpu", "cpuacct", or "name=systemd"); v2: empty, since
    // cgroup2 controllers are per cgroup (cgroup.controllers).
    std::vector<std::string> controllers;

    bool has(std::string_view controller) const;
    // The directory of `cgroup` (an absolute cgroup path, "/lcloud/web") under this mount. Throws
    // Error when the mount shows only a subtree that does not contain it.
    std::filesystem::path directory_of(const std::string& cgroup) const;
};

// Every cgroup and cgroup2 mount in a /proc/<pid>/mountinfo text, one per hierarchy: of several
// mounts of the same hierarchy, the one showing its root, under /sys/fs/cgroup, wins.
std::vector<Hierarchy> parse_mountinfo(std::string_view mountinfo);

// From /proc/self/mountinfo.
std::vector<Hierarchy> mounted_hierarchies();

// The hierarchies a container's cgroup goes in for `layout`: on v1 and hybrid the v1 hierarchies
// holding any controller the runtime uses (cpu, cpuacct, cpuset, memory, pids, blkio, devices,
// freezer), plus the cgroup2 one on hybrid (for process tracking); on v2 the cgroup2 one.
std::vector<Hierarchy> runtime_hierarchies(Layout layout, const std::vector<Hierarchy>& mounted);

// One line of /proc/<pid>/cgroup: "4:memory:/a/b" or "0::/a".
struct ProcCgroup {
    int id = 0;
    std::vector<std::string> controllers; // empty for cgroup2
    std::string path;
};

std::vector<ProcCgroup> parse_proc_cgroup(std::string_view content);

// The cgroup of the calling process in `hierarchy`, from /proc/self/cgroup.
std::string own_cgroup(const Hierarchy& hierarchy, const std::vector<ProcCgroup>& own);

// The absolute cgroup path for the OCI linux.cgroupsPath: an absolute path as is, a relative one
// under `own` (the runtime's own cgroup in that hierarchy, as runc does), an empty one
// /lcloud/<container_id>. Normalized ("//" and trailing "/" dropped); throws Error for "." or ".."
// components and for an empty path with an unusable container id.
std::string resolve_cgroup_path(const std::string& cgroups_path, const std::string& container_id,
                                const std::string& own);

} // namespace lcloud::runtime::cgroups

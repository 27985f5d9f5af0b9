#include "runtime/rootfs/cgroup_mount.hpp"

#include "common/error.hpp"
#include "runtime/rootfs/safe_path.hpp"

#include <algorithm>
#include <cerrno>
#include <fcntl.h>
#include <filesystem>
#include <linux/magic.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <unistd.h>

namespace lcloud::runtime::rootfs {

namespace {

struct Hierarchy {
    std::string name; // of its mount point: "memory", "cpu,cpuacct", "unified"
    std::string path; // the container's directory in it, on the host
    bool unified = false;
};

std::vector<Hierarchy> hierarchies_of(const MountContext& context, const std::string& shown) {
    std::vector<Hierarchy> hierarchies;
    for (const auto& path : context.cgroup_paths) {
        struct statfs st {};
        if (::statfs(path.c_str(), &st) != 0) throw_errno("statfs cgroup directory", path);
        if (st.f_type != CGROUP_SUPER_MAGIC && st.f_type != CGROUP2_SUPER_MAGIC)
            throw RootfsError("cgroup mount on " + shown + ": " + path +
                              " is not in a cgroup file system");
        Hierarchy hierarchy{std::filesystem::path(mount_point_of(path)).filename().string(), path,
                            st.f_type == CGROUP2_SUPER_MAGIC};
        if (hierarchy.name.empty() || hierarchy.name == "." || hierarchy.name == "..")
            throw RootfsError("cgroup mount on " + shown + ": " + path +
                              " is in a hierarchy mounted without a name of its own");
        hierarchies.push_back(std::move(hierarchy));
    }
    return hierarchies;
}

// A bind of the container's cgroup directory: it shows the container's cgroup, never its parents.
void bind_directory(int root_fd, const std::string& destination, const std::string& host_path,
                    const MountOptions& options) {
    const Fd source(::open(host_path.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC));
    if (!source) throw_errno("open cgroup directory " + host_path + " for", destination);
    struct stat source_stat {};
    if (::fstat(source.get(), &source_stat) != 0) throw_errno("stat", host_path);
    const Fd target = ensure_directory_in_root(root_fd, destination, 0755);
    struct stat before {};
    if (::fstat(target.get(), &before) != 0) throw_errno("stat", destination);
    mount_onto(fd_path(source.get()).c_str(), target.get(), nullptr, MS_BIND, "",
               "bind of " + host_path, destination);
    const unsigned long extra = options.flags & ~(MS_BIND | MS_REC | MS_REMOUNT | MS_SILENT);
    if (!extra) return;
    const Fd mounted = reopen_mount(root_fd, destination, before, &source_stat);
    remount_bind(fd_path(mounted.get()), extra, options.clear_flags, destination);
}

} // namespace

void mount_cgroup(int root_fd, const oci::Mount& mount, const MountOptions& options,
                  const MountContext& context) {
    const std::string& destination = mount.destination;
    if (context.cgroup_paths.empty())
        throw RootfsError("cgroup mount on " + destination +
                          ": the runtime knows no cgroup directory of the container");
    const auto hierarchies = hierarchies_of(context, destination);
    const unsigned long flags = options.flags & ~(MS_BIND | MS_REC | MS_REMOUNT);
    if (std::all_of(hierarchies.begin(), hierarchies.end(),
                    [](const Hierarchy& hierarchy) { return hierarchy.unified; })) {
        if (hierarchies.size() != 1)
            throw RootfsError("cgroup mount on " + destination +
                              ": more than one cgroup2 directory given for the container");
        if (!context.cgroup_namespace)
            return bind_directory(root_fd, destination, hierarchies.front().path, options);
        const Fd target = ensure_directory_in_root(root_fd, destination, 0755);
        return mount_onto("cgroup2", target.get(), "cgroup2", flags, options.data, "cgroup2",
                          destination);
    }

    const Fd target = ensure_directory_in_root(root_fd, destination, 0755);
    struct stat before {};
    if (::fstat(target.get(), &before) != 0) throw_errno("stat", destination);
    // Writable until its directories exist; read-only, if asked, at the end.
    mount_onto("tmpfs", target.get(), "tmpfs", flags & ~MS_RDONLY, "mode=755", "tmpfs",
               destination);
    const Fd tmpfs = reopen_mount(root_fd, destination, before);
    for (const auto& hierarchy : hierarchies) {
        const std::string directory = clean_path(destination + "/" + hierarchy.name);
        bind_directory(root_fd, directory, hierarchy.path, options);
        if (hierarchy.name.find(',') == std::string::npos) continue;
        // Co-mounted controllers answer to each name, as on the host.
        size_t start = 0;
        while (start <= hierarchy.name.size()) {
            size_t end = hierarchy.name.find(',', start);
            if (end == std::string::npos) end = hierarchy.name.size();
            const std::string controller = hierarchy.name.substr(start, end - start);
            if (!controller.empty() &&
                ::symlinkat(hierarchy.name.c_str(), tmpfs.get(), controller.c_str()) != 0 &&
                errno != EEXIST)
                throw_errno("create symlink", clean_path(destination + "/" + controller));
            start = end + 1;
        }
    }
    if (flags & MS_RDONLY)
        remount_bind(fd_path(tmpfs.get()), flags, options.clear_flags, destination);
}

} // namespace lcloud::runtime::rootfs

#include "runtime/rootfs/setup.hpp"

#include "common/error.hpp"
#include "runtime/rootfs/devices.hpp"
#include "runtime/rootfs/masking.hpp"
#include "runtime/rootfs/pivot.hpp"
#include "runtime/rootfs/safe_path.hpp"

#include <algorithm>
#include <cerrno>
#include <fcntl.h>
#include <linux/magic.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <unistd.h>

namespace lcloud::runtime::rootfs {

namespace fs = std::filesystem;

namespace {

unsigned long rootfs_propagation(const oci::Config& config) {
    const std::string& value = config.linux.rootfs_propagation;
    if (value.empty()) return 0;
    const MountOptions parsed = parse_mount_options({value});
    if (!parsed.propagation || parsed.flags || parsed.clear_flags || !parsed.data.empty())
        throw RootfsError("linux.rootfsPropagation \"" + value +
                          "\" is none of private, rprivate, slave, rslave, shared, rshared, "
                          "unbindable, runbindable");
    return parsed.propagation;
}

// The config's mount at /dev, if any: the last one, since it hides the others.
const oci::Mount* dev_mount(const oci::Config& config) {
    const auto found =
        std::find_if(config.mounts.rbegin(), config.mounts.rend(), [](const oci::Mount& mount) {
            return clean_path(mount.destination) == "/dev";
        });
    return found == config.mounts.rend() ? nullptr : &*found;
}

bool is_bind(const oci::Mount& mount) {
    return mount.type == "bind" || parse_mount_options(mount.options).bind;
}

void write_all(int fd, const std::string& value, const std::string& key) {
    size_t done = 0;
    while (done < value.size()) {
        const ssize_t written = ::write(fd, value.data() + done, value.size() - done);
        if (written < 0) {
            if (errno == EINTR) continue;
            throw_errno("set sysctl", key + " to \"" + value + "\"");
        }
        done += static_cast<size_t>(written);
    }
}

} // namespace

void apply_sysctls(int root_fd, const std::map<std::string, std::string>& sysctls) {
    for (const auto& [key, value] : sysctls) {
        if (key.empty() || key.find('/') != std::string::npos ||
            key.find("..") != std::string::npos || key.front() == '.' || key.back() == '.')
            throw RootfsError("sysctl \"" + key +
                              "\": a key is dot-separated names (net.ipv4.ip_forward), without "
                              "\"/\", \"..\" or empty names");
    }
    for (const auto& [key, value] : sysctls) {
        std::string path = "/proc/sys/" + key;
        std::replace(path.begin() + 10, path.end(), '.', '/');
        const Fd file = open_in_root(root_fd, path, O_WRONLY | O_NOFOLLOW);
        struct statfs st {};
        if (::fstatfs(file.get(), &st) != 0) throw_errno("statfs", path);
        // Without a proc mount the rootfs's own files would be written instead.
        if (st.f_type != PROC_SUPER_MAGIC)
            throw RootfsError("sysctl " + key + ": " + path +
                              " in the container is not in a procfs; mount proc at /proc");
        write_all(file.get(), value, key);
    }
}

Fd mount_rootfs(const oci::Config& config, const fs::path& rootfs, const MountContext& context) {
    std::error_code error;
    const fs::path root_path = fs::canonical(rootfs, error);
    if (error) throw SystemError("resolve rootfs", rootfs.string(), error.value());
    const std::string shown = root_path.string();

    const unsigned long propagation = rootfs_propagation(config);
    if (::mount(nullptr, "/", nullptr, propagation ? propagation : MS_SLAVE | MS_REC, nullptr) != 0)
        throw_errno("set mount propagation of", "/");
    const std::string parent_mount = mount_point_of(root_path.parent_path().string());
    if (::mount(nullptr, parent_mount.c_str(), nullptr, MS_PRIVATE, nullptr) != 0)
        throw_errno("make private the mount holding the rootfs,", parent_mount);
    if (::mount(shown.c_str(), shown.c_str(), nullptr, MS_BIND | MS_REC, nullptr) != 0)
        throw_errno("bind-mount onto itself the rootfs", shown);
    Fd root(::open(shown.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC));
    if (!root) throw_errno("open rootfs", shown);

    const oci::Mount* dev = dev_mount(config);
    const bool dev_filesystem = dev && !is_bind(*dev);
    const bool dev_readonly =
        dev_filesystem && (parse_mount_options(dev->options).flags & MS_RDONLY);
    MountContext joined = context;
    for (const auto& mount : config.mounts) {
        if (mount.type == "cgroup" && joined.wait_for_cgroup) {
            joined.cgroup_paths = joined.wait_for_cgroup();
            joined.wait_for_cgroup = nullptr;
        }
        if (&mount != dev || !dev_readonly) {
            mount_in_root(root.get(), mount, joined);
            continue;
        }
        oci::Mount writable = mount;
        writable.options.push_back("rw");
        mount_in_root(root.get(), writable, joined);
    }

    if (dev_filesystem) {
        std::vector<oci::Device> devices = default_devices();
        devices.insert(devices.end(), config.linux.devices.begin(), config.linux.devices.end());
        create_devices(root.get(), devices);
        create_dev_symlinks(root.get());
    } else {
        create_devices(root.get(), config.linux.devices);
    }
    if (dev_readonly) {
        const Fd dev_fd = open_in_root(root.get(), "/dev", O_PATH | O_DIRECTORY);
        remount_bind(fd_path(dev_fd.get()), MS_RDONLY, 0, "/dev");
    }

    apply_sysctls(root.get(), config.linux.sysctl);
    return root;
}

void enter_rootfs(const oci::Config& config, const Fd& root, const fs::path& rootfs) {
    enter_root(root.get(), rootfs.string(), false);
    const Fd new_root(::open("/", O_PATH | O_DIRECTORY | O_CLOEXEC));
    if (!new_root) throw_errno("open", "/");
    mask_paths(new_root.get(), config.linux.masked_paths);
    make_paths_readonly(new_root.get(), config.linux.readonly_paths);
    if (config.root.readonly) make_root_readonly();
    if (const unsigned long propagation = rootfs_propagation(config);
        propagation && ::mount(nullptr, "/", nullptr, propagation, nullptr) != 0)
        throw_errno("set mount propagation of", "/");
}

void prepare_rootfs(const oci::Config& config, const fs::path& rootfs,
                    const MountContext& context) {
    const Fd root = mount_rootfs(config, rootfs, context);
    enter_rootfs(config, root, rootfs);
}

} // namespace lcloud::runtime::rootfs

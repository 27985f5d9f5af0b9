#include "runtime/rootfs/devices.hpp"

#include "common/error.hpp"
#include "runtime/rootfs/mounts.hpp"
#include "runtime/rootfs/safe_path.hpp"

#include <array>
#include <cerrno>
#include <fcntl.h>
#include <fmt/format.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

namespace lcloud::runtime::rootfs {

namespace {

struct Node {
    std::string path; // clean, absolute in the container
    std::string parent;
    std::string name;
    mode_t type = S_IFCHR;
    dev_t number = 0;
};

std::string describe(const Node& node) {
    if (node.type == S_IFIFO) return "fifo";
    return fmt::format("{} {}:{}", node.type == S_IFBLK ? 'b' : 'c', major(node.number),
                       minor(node.number));
}

Node node_of(const oci::Device& device) {
    Node node;
    node.path = clean_path(device.path);
    const size_t slash = node.path.rfind('/');
    node.parent = slash == 0 ? "/" : node.path.substr(0, slash);
    node.name = node.path.substr(slash + 1);
    if (node.name.empty()) throw RootfsError("device with path \"" + device.path + "\"");
    switch (device.type) {
    case 'c':
    case 'u':
        node.type = S_IFCHR;
        break;
    case 'b':
        node.type = S_IFBLK;
        break;
    case 'p':
        node.type = S_IFIFO;
        return node;
    default:
        throw RootfsError(
            fmt::format("device {}: type '{}' is none of c, u, b, p", node.path, device.type));
    }
    // dev_t has 12 bits of major and 20 of minor as the kernel encodes it.
    if (device.major < 0 || device.major > 0xfff || device.minor < 0 || device.minor > 0xfffff)
        throw RootfsError(fmt::format("device {}: number {}:{} is out of range", node.path,
                                      device.major, device.minor));
    node.number = makedev(static_cast<unsigned>(device.major), static_cast<unsigned>(device.minor));
    return node;
}

bool is_node(const struct stat& st, const Node& node) {
    return (st.st_mode & S_IFMT) == node.type &&
           (node.type == S_IFIFO || st.st_rdev == node.number);
}

// False when the kernel does not let us (EPERM: no CAP_MKNOD over the init user namespace).
bool make_node(int parent_fd, const Node& node) {
    const int result = node.type == S_IFIFO
                           ? ::mkfifoat(parent_fd, node.name.c_str(), 0)
                           : ::mknodat(parent_fd, node.name.c_str(), node.type, node.number);
    if (result == 0) return true;
    if (errno == EPERM && node.type != S_IFIFO) return false;
    throw_errno("create device", node.path);
}

void set_attributes(int parent_fd, const Node& node, const oci::Device& device) {
    const Fd created(::openat(parent_fd, node.name.c_str(), O_PATH | O_NOFOLLOW | O_CLOEXEC));
    struct stat st {};
    if (!created || ::fstat(created.get(), &st) != 0) throw_errno("open device", node.path);
    if (!is_node(st, node))
        throw RootfsError("device " + node.path + " was replaced while it was being created");
    // chmod through the fd: the mode must be exact, whatever the umask, and nothing but our node
    // may get it.
    if (::chmod(fd_path(created.get()).c_str(), device.file_mode.value_or(0666) & 07777) != 0)
        throw_errno("chmod device", node.path);
    if ((device.uid || device.gid) &&
        ::fchownat(created.get(), "", device.uid ? static_cast<uid_t>(*device.uid) : uid_t(-1),
                   device.gid ? static_cast<gid_t>(*device.gid) : gid_t(-1),
                   AT_EMPTY_PATH | AT_SYMLINK_NOFOLLOW) != 0)
        throw_errno("chown device", node.path);
}

void bind_host_node(int parent_fd, const Node& node, const oci::Device& device, bool exists,
                    const struct stat& existing) {
    const Fd host(::open(node.path.c_str(), O_PATH | O_CLOEXEC));
    if (!host) throw_errno("open host device to bind for", node.path);
    struct stat host_stat {};
    if (::fstat(host.get(), &host_stat) != 0) throw_errno("stat host device", node.path);
    if (!is_node(host_stat, node))
        throw RootfsError(fmt::format("device {} ({}): mknod is not permitted here, and the "
                                      "host's {} is not that device, so it cannot stand in",
                                      node.path, describe(node), node.path));
    if (exists && !S_ISREG(existing.st_mode) && ::unlinkat(parent_fd, node.name.c_str(), 0) != 0)
        throw_errno("remove before creating device", node.path);
    const Fd created(
        ::openat(parent_fd, node.name.c_str(), O_WRONLY | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0644));
    if (!created) throw_errno("create bind target for device", node.path);
    struct stat st {};
    if (::fstat(created.get(), &st) != 0 || !S_ISREG(st.st_mode))
        throw RootfsError("bind target for device " + node.path + " is not a regular file");
    mount_onto(fd_path(host.get()).c_str(), created.get(), nullptr, MS_BIND, "",
               "host device " + device.path, node.path);
}

void create_device(int root_fd, const oci::Device& device, bool& bind_from_host) {
    const Node node = node_of(device);
    const Fd parent = ensure_directory_in_root(root_fd, node.parent, 0755);
    struct stat existing {};
    const bool exists =
        ::fstatat(parent.get(), node.name.c_str(), &existing, AT_SYMLINK_NOFOLLOW) == 0;
    if (!exists && errno != ENOENT) throw_errno("stat", node.path);
    if (exists && S_ISDIR(existing.st_mode)) throw SystemError("create device", node.path, EISDIR);
    if (!bind_from_host) {
        if (exists && !is_node(existing, node) &&
            ::unlinkat(parent.get(), node.name.c_str(), 0) != 0)
            throw_errno("remove before creating device", node.path);
        if ((exists && is_node(existing, node)) || make_node(parent.get(), node))
            return set_attributes(parent.get(), node, device);
        bind_from_host = true;
        // The unlink above may have removed what `existing` describes.
        const bool still =
            ::fstatat(parent.get(), node.name.c_str(), &existing, AT_SYMLINK_NOFOLLOW) == 0;
        return bind_host_node(parent.get(), node, device, still, existing);
    }
    bind_host_node(parent.get(), node, device, exists, existing);
}

} // namespace

const std::vector<oci::Device>& default_devices() {
    static const std::vector<oci::Device> devices = [] {
        std::vector<oci::Device> list;
        for (const auto& [path, major_number, minor_number] :
             std::array<std::tuple<const char*, int, int>, 6>{{
                 {"/dev/null", 1, 3},
                 {"/dev/zero", 1, 5},
                 {"/dev/full", 1, 7},
                 {"/dev/random", 1, 8},
                 {"/dev/urandom", 1, 9},
                 {"/dev/tty", 5, 0},
             }})
            list.push_back({path, 'c', major_number, minor_number, 0666, 0, 0});
        return list;
    }();
    return devices;
}

void create_devices(int root_fd, const std::vector<oci::Device>& devices) {
    bool bind_from_host = false;
    for (const auto& device : devices)
        create_device(root_fd, device, bind_from_host);
}

void create_dev_symlinks(int root_fd) {
    const Fd dev = open_in_root(root_fd, "/dev", O_PATH | O_DIRECTORY);
    constexpr std::array<std::pair<const char*, const char*>, 5> links{{
        {"fd", "/proc/self/fd"},
        {"stdin", "/proc/self/fd/0"},
        {"stdout", "/proc/self/fd/1"},
        {"stderr", "/proc/self/fd/2"},
        {"core", "/proc/kcore"},
    }};
    for (const auto& [name, target] : links)
        if (::symlinkat(target, dev.get(), name) != 0 && errno != EEXIST)
            throw_errno("create symlink", std::string("/dev/") + name);
    if (::unlinkat(dev.get(), "ptmx", 0) != 0 && errno != ENOENT)
        throw_errno("remove", "/dev/ptmx");
    if (::symlinkat("pts/ptmx", dev.get(), "ptmx") != 0) throw_errno("create symlink", "/dev/ptmx");
}

} // namespace lcloud::runtime::rootfs

#include "agent/shares/shares.hpp"

#include "common/error.hpp"
#include "common/fd.hpp"

#include <cerrno>
#include <cstring>
#include <fcntl.h>
#include <fmt/format.h>
#include <fstream>
#include <sched.h>
#include <spdlog/spdlog.h>
#include <sstream>
#include <sys/mount.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#ifndef MOUNT_ATTR_RDONLY
#define MOUNT_ATTR_RDONLY 0x00000001
#endif

namespace lcloud::agent {

namespace {

// The 9p mount points in a process's mountinfo, as that process sees its paths.
std::vector<std::string> nine_p_mounts(int pid) {
    std::ifstream in(fmt::format("/proc/{}/mountinfo", pid));
    std::vector<std::string> found;
    for (std::string line; std::getline(in, line);) {
        const auto dash = line.find(" - ");
        if (dash == std::string::npos) continue;
        std::istringstream fields(line.substr(0, dash));
        std::string id, parent, device, root, point;
        fields >> id >> parent >> device >> root >> point;
        std::istringstream after(line.substr(dash + 3));
        std::string type;
        after >> type;
        if (type == "9p") found.push_back(point);
    }
    // Deepest first, so that a mount over another goes before it.
    std::sort(found.rbegin(), found.rend());
    return found;
}

std::string relative(const std::string& path) {
    const auto start = path.find_first_not_of('/');
    return start == std::string::npos ? "." : path.substr(start);
}

// Runs `work` in a child that has entered `pid`'s mount namespace with its working directory at
// that process's root; `prepare` runs first, in ours. Returns the child's errno (0: done).
int in_mount_namespace(int pid, const std::function<int()>& prepare,
                       const std::function<int(int root)>& work) {
    Fd namespace_fd(::open(fmt::format("/proc/{}/ns/mnt", pid).c_str(), O_RDONLY | O_CLOEXEC));
    Fd root(::open(fmt::format("/proc/{}/root", pid).c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC));
    if (!namespace_fd || !root) return errno;
    const pid_t child = ::fork();
    if (child < 0) return errno;
    if (child == 0) {
        // One thread (a fork's child is), as setns into a mount namespace needs.
        if (const int failed = prepare()) ::_exit(failed);
        if (::setns(namespace_fd.get(), CLONE_NEWNS) != 0 || ::fchdir(root.get()) != 0)
            ::_exit(errno);
        ::_exit(work(root.get()));
    }
    int status = 0;
    while (::waitpid(child, &status, 0) < 0 && errno == EINTR) {
    }
    return WIFEXITED(status) ? WEXITSTATUS(status) : EINTR;
}

} // namespace

std::vector<DetachedShare> detach_shares(const std::vector<ContainerStatus>& running) {
    std::vector<DetachedShare> detached;
    for (const auto& container : running) {
        if (container.pid <= 0) continue;
        for (const auto& point : nine_p_mounts(container.pid)) {
            const int failed = in_mount_namespace(
                container.pid, [] { return 0; },
                [&](int) {
                    return ::umount2(relative(point).c_str(), MNT_DETACH) == 0 ? 0 : errno;
                });
            if (failed)
                throw Error(fmt::format("detaching the shared folder at {} in container {}: {}",
                                        point, container.spec.id, std::strerror(failed)));
            DetachedShare share{container.spec.id, container.pid, point, "", false};
            for (const auto& mount : container.spec.mounts)
                if (mount.type == "bind" && mount.target == point) {
                    share.source = mount.source;
                    share.read_only = mount.read_only;
                }
            if (share.source.empty())
                spdlog::warn("agent: {}: the 9p mount at {} is not in its spec; it stays detached",
                             container.spec.id, point);
            detached.push_back(std::move(share));
        }
    }
    return detached;
}

size_t attach_shares(const std::vector<DetachedShare>& detached) {
    size_t attached = 0;
    for (const auto& share : detached) {
        if (share.source.empty()) continue;
        int tree = -1;
        const int failed = in_mount_namespace(
            share.pid,
            [&] {
                // A copy of the VM's share, detached, made before we leave the VM's namespace.
                tree = static_cast<int>(::syscall(SYS_open_tree, AT_FDCWD, share.source.c_str(),
                                                  OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC));
                if (tree < 0) return errno;
                if (share.read_only) {
                    struct {
                        uint64_t attr_set, attr_clr, propagation, userns_fd;
                    } attributes{MOUNT_ATTR_RDONLY, 0, 0, 0};
                    if (::syscall(SYS_mount_setattr, tree, "", AT_EMPTY_PATH, &attributes,
                                  sizeof attributes) != 0)
                        return errno;
                }
                return 0;
            },
            [&](int root) {
                return ::syscall(SYS_move_mount, tree, "", root, relative(share.target).c_str(),
                                 MOVE_MOUNT_F_EMPTY_PATH) == 0
                           ? 0
                           : errno;
            });
        if (failed) {
            spdlog::warn("agent: attaching {} at {} in {} again: {}", share.source, share.target,
                         share.container, std::strerror(failed));
            continue;
        }
        ++attached;
    }
    return attached;
}

} // namespace lcloud::agent

#include "runtime/container/init.hpp"

#include "common/error.hpp"
#include "common/strings.hpp"
#include "runtime/container/console.hpp"
#include "runtime/container/hooks.hpp"
#include "runtime/container/process.hpp"
#include "runtime/rootfs/setup.hpp"

#include <fcntl.h>
#include <fmt/format.h>
#include <sched.h>
#include <sys/prctl.h>
#include <unistd.h>

namespace lcloud::runtime {

namespace {

// Waits until `start` opens the FIFO for reading, then lets it know we go on.
void wait_for_start(const Fd& exec_fifo) {
    const std::string path = fmt::format("/proc/self/fd/{}", exec_fifo.get());
    Fd fifo(::open(path.c_str(), O_WRONLY | O_CLOEXEC));
    if (!fifo) throw_errno("open", "exec fifo");
    if (::write(fifo.get(), "0", 1) != 1) throw_errno("write", "exec fifo");
}

// The runtime's "go": the container's state for hooks and, now that the runtime has put us in
// it, our cgroup.
void receive_go(InitContext& context) {
    context.channel.expect("go", "the runtime");
    context.state_json = context.channel.receive();
    context.cgroup_paths = split(context.channel.receive(), '\n');
    std::erase(context.cgroup_paths, std::string());
    // Only now, inside the container's cgroup, does a new cgroup namespace root itself there.
    if (context.new_cgroup_namespace && ::unshare(CLONE_NEWCGROUP) != 0)
        throw_errno("create", "cgroup namespace");
    context.received_go = true;
}

// Moves the caller's chosen stdio onto 0, 1 and 2; first out of the way, so that a source that
// is itself 0, 1 or 2 is not overwritten before it is used.
void install_stdio(const std::array<int, 3>& stdio) {
    std::array<int, 3> moved{-1, -1, -1};
    for (int i = 0; i < 3; ++i)
        if (stdio[i] >= 0 && (moved[i] = ::fcntl(stdio[i], F_DUPFD_CLOEXEC, 3)) < 0)
            throw_errno("take over", fmt::format("stdio fd {}", stdio[i]));
    for (int i = 0; i < 3; ++i)
        if (moved[i] >= 0) {
            if (::dup2(moved[i], i) < 0) throw_errno("install", fmt::format("stdio fd {}", i));
            ::close(moved[i]);
        }
}

void run_init(InitContext& context) {
    const oci::Config& config = *context.config;
    install_stdio(context.stdio);
    const oci::Process& process = *config.process;
    // Nothing in the container may open our /proc/PID/exe (the CVE-2019-5736 class); execve
    // makes the container's own program dumpable again.
    ::prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
    if (context.new_user_namespace) context.channel.expect("mapped", "the runtime");
    join_namespaces(context.joins);
    context.joins.clear();
    // Until now we are the overflow id in a new user namespace, and may not create files on
    // the container's own mounts (EOVERFLOW); its root is who sets them up.
    if (context.new_user_namespace && (::setresgid(0, 0, 0) != 0 || ::setresuid(0, 0, 0) != 0))
        throw_errno("become root in", "the container's user namespace");
    context.channel.send("ns-ready");
    // Hooks see the namespaces before anything is mounted in them. Without hooks the mounts
    // overlap with the runtime's making of the cgroup, up to the first cgroup mount.
    const auto& hooks = config.hooks;
    const bool hooks_first =
        !hooks.prestart.empty() || !hooks.create_runtime.empty() || !hooks.create_container.empty();
    if (hooks_first) receive_go(context);

    if (!config.hostname.empty() &&
        ::sethostname(config.hostname.data(), config.hostname.size()) != 0)
        throw_errno("set hostname", config.hostname);
    if (!config.domainname.empty() &&
        ::setdomainname(config.domainname.data(), config.domainname.size()) != 0)
        throw_errno("set domain name", config.domainname);

    rootfs::MountContext mounts{context.cgroup_paths, context.new_cgroup_namespace, {}};
    if (!context.received_go)
        mounts.wait_for_cgroup = [&context] {
            receive_go(context);
            return context.cgroup_paths;
        };
    const Fd root = rootfs::mount_rootfs(config, context.rootfs, mounts);
    if (!context.received_go) receive_go(context);
    run_hooks(config.hooks.create_container, "createContainer", context.state_json);
    rootfs::enter_rootfs(config, root, context.rootfs);
    enter_working_directory(process);
    const std::string executable = resolve_executable(process);
    if (process.terminal) {
        setup_terminal(context.console_socket.get(), process.console_size);
        context.console_socket.reset();
    }
    context.channel.send("created");
    context.channel.close();

    wait_for_start(context.exec_fifo);
    context.exec_fifo.reset();
    run_hooks(config.hooks.start_container, "startContainer", context.state_json);
    exec_process(process, executable, context.seccomp);
}

} // namespace

void container_init(InitContext& context) {
    try {
        run_init(context);
    } catch (const std::exception& error) {
        const std::string message = fmt::format("error:{}", error.what());
        if (context.channel.fd() >= 0) {
            try {
                context.channel.send(message);
            } catch (...) {
            }
        } else {
            // After `created` nobody listens on the channel; stderr is the container's.
            const std::string line = fmt::format("lcloud-runtime: {}\n", error.what());
            (void)!::write(STDERR_FILENO, line.data(), line.size());
        }
    }
    ::_exit(127);
}

} // namespace lcloud::runtime

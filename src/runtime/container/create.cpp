#include "common/clock.hpp"
#include "common/error.hpp"
#include "runtime/cgroups/cgroup.hpp"
#include "runtime/cgroups/convert.hpp"
#include "runtime/container/commands.hpp"
#include "runtime/container/console.hpp"
#include "runtime/container/hooks.hpp"
#include "runtime/container/host_safety.hpp"
#include "runtime/container/init.hpp"
#include "runtime/container/process.hpp"
#include "runtime/oci/config_parse.hpp"
#include "state/atomic_file.hpp"

#include <chrono>
#include <cstdint>
#include <ctime>
#include <fcntl.h>
#include <fmt/format.h>
#include <fmt/ranges.h>
#include <sched.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

namespace lcloud::runtime {

namespace fs = std::filesystem;

namespace {

// The kernel's struct clone_args; declared here because <linux/sched.h> clashes with <sched.h>.
struct CloneArgs {
    uint64_t flags = 0;
    uint64_t pidfd = 0;
    uint64_t child_tid = 0;
    uint64_t parent_tid = 0;
    uint64_t exit_signal = 0;
    uint64_t stack = 0;
    uint64_t stack_size = 0;
    uint64_t tls = 0;
};

// Undoes a half-made container when create fails at any step.
struct CreateRollback {
    const StateStore& store;
    std::string id;
    pid_t pid = 0;
    std::optional<cgroups::Cgroup> cgroup;
    bool done = false;
    ~CreateRollback() {
        if (done) return;
        if (pid > 0) {
            ::kill(pid, SIGKILL);
            ::waitpid(pid, nullptr, 0);
        }
        try {
            if (cgroup) cgroup->remove();
        } catch (...) {
        }
        try {
            store.remove(id);
        } catch (...) {
        }
    }
};

// The host id that container id 0 maps to; without mappings, host root.
uint32_t host_id_of_root(const std::vector<oci::IdMapping>& mappings) {
    for (const auto& mapping : mappings)
        if (mapping.container_id == 0 && mapping.size > 0) return mapping.host_id;
    return 0;
}

void join_pid_namespace_for_children(const oci::Linux& linux_config) {
    const auto* ns = linux_config.find_namespace(oci::NamespaceType::pid);
    if (!ns || ns->path.empty()) return;
    Fd fd(::open(ns->path.c_str(), O_RDONLY | O_CLOEXEC));
    if (!fd) throw_errno("open pid namespace", ns->path);
    if (::setns(fd.get(), CLONE_NEWPID) != 0) throw_errno("join pid namespace", ns->path);
}

} // namespace

pid_t create_container(const StateStore& store, const CreateOptions& options) {
    return create_container(store, options,
                            oci::load_config(fs::absolute(options.bundle).lexically_normal()));
}

pid_t create_container(const StateStore& store, const CreateOptions& options,
                       const oci::Config& config, Fd console) {
    const fs::path bundle = fs::absolute(options.bundle).lexically_normal();
    if (!config.process) throw Error("config.json: 'process' is required to create a container");
    const fs::path rootfs = (bundle / config.root.path).lexically_normal();
    if (!fs::is_directory(rootfs))
        throw Error(fmt::format("config.json: root.path: {} is not a directory", rootfs.string()));

    check_host_safety(config);
    store.create_dir(options.id);
    CreateRollback rollback{store, options.id, 0, std::nullopt};
    ContainerState state{
        options.id, 0, 0, bundle, now_rfc3339_nanos(), config.annotations, {}, config.oci_version};
    store.save(state);

    const fs::path fifo_path = store.exec_fifo(options.id);
    if (::mkfifo(fifo_path.c_str(), 0600) != 0) throw_errno("create", fifo_path.string());
    // The init opens it as the container's root, who is someone else in a user namespace.
    if (::chown(fifo_path.c_str(), host_id_of_root(config.linux.uid_mappings),
                host_id_of_root(config.linux.gid_mappings)) != 0)
        throw_errno("hand over", fifo_path.string());

    InitContext context;
    context.config = &config;
    context.rootfs = rootfs;
    context.seccomp = seccomp_program(config, store.root());
    context.stdio = options.stdio;
    auto [runtime_end, init_end] = SyncChannel::make_pair();
    context.channel = std::move(init_end);
    context.exec_fifo = Fd(::open(fifo_path.c_str(), O_PATH | O_CLOEXEC));
    if (!context.exec_fifo) throw_errno("open", fifo_path.string());
    if (config.process->terminal) {
        if (console)
            context.console_socket = std::move(console);
        else if (options.console_socket.empty())
            throw UsageError("config.json asks for a terminal (process.terminal); pass "
                             "--console-socket to receive it");
        else
            context.console_socket = connect_console_socket(options.console_socket);
    }
    context.joins = open_namespace_paths(config.linux);
    const auto flags = new_namespace_flags(config.linux);
    context.new_user_namespace = (flags & CLONE_NEWUSER) != 0;
    context.new_cgroup_namespace = (flags & CLONE_NEWCGROUP) != 0;
    join_pid_namespace_for_children(config.linux);

    CloneArgs args;
    args.flags = flags & ~static_cast<uint64_t>(CLONE_NEWCGROUP);
    args.exit_signal = SIGCHLD;
    const pid_t pid = static_cast<pid_t>(::syscall(SYS_clone3, &args, sizeof args));
    if (pid < 0) throw_errno("create the container process (clone3)", options.id);
    if (pid == 0) {
        runtime_end.close();
        container_init(context);
    }
    rollback.pid = pid;
    context.channel.close();
    context.exec_fifo.reset();
    context.console_socket.reset();
    context.joins.clear();

    if (context.new_user_namespace) {
        write_id_mappings(pid, config.linux);
        runtime_end.send("mapped");
    }
    // While the init mounts its rootfs.
    rollback.cgroup = cgroups::Cgroup::create(config.linux.cgroups_path, options.id);
    // As runc and crun do: the config's device rules, then the devices every container needs.
    oci::Resources resources = config.linux.resources.value_or(oci::Resources{});
    for (auto& rule : cgroups::default_device_rules())
        resources.devices.push_back(rule);
    rollback.cgroup->apply(resources);
    rollback.cgroup->add_process(pid);
    state.cgroup_paths = rollback.cgroup->paths();
    runtime_end.expect("ns-ready", "the container's init");
    state.pid = pid;
    state.pid_start_time = process_start_time(pid);
    store.save(state);
    const std::string state_json = store.state_json(state);
    run_hooks(config.hooks.prestart, "prestart", state_json);
    run_hooks(config.hooks.create_runtime, "createRuntime", state_json);
    runtime_end.send("go");
    runtime_end.send(state_json);
    runtime_end.send(fmt::format("{}", fmt::join(state.cgroup_paths, "\n")));
    runtime_end.expect("created", "the container's init");

    if (!options.pid_file.empty())
        state::write_file_atomic(options.pid_file, std::to_string(pid), 0644,
                                 state::Durability::killed_writer);
    rollback.done = true;
    return pid;
}

} // namespace lcloud::runtime

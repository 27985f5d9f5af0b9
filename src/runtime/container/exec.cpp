#include "common/error.hpp"
#include "runtime/cgroups/cgroup.hpp"
#include "runtime/container/commands.hpp"
#include "runtime/container/console.hpp"
#include "runtime/container/console_proxy.hpp"
#include "runtime/container/namespaces.hpp"
#include "runtime/container/process.hpp"
#include "runtime/oci/config_parse.hpp"
#include "state/atomic_file.hpp"

#include <cerrno>
#include <fmt/format.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

namespace lcloud::runtime {

namespace {

int wait_for(pid_t pid) {
    int status = 0;
    while (::waitpid(pid, &status, 0) < 0)
        if (errno != EINTR) return 127;
    return exit_code_of(status);
}

[[noreturn]] void fail(const std::exception& error) {
    const std::string line = fmt::format("lcloud-runtime: exec: {}\n", error.what());
    (void)!::write(STDERR_FILENO, line.data(), line.size());
    ::_exit(127);
}

oci::Process exec_process_config(const oci::Process& base, const ExecOptions& options) {
    oci::Process process = base;
    process.args = options.args;
    process.terminal = options.tty;
    for (const auto& variable : options.env) {
        const auto name = variable.substr(0, variable.find('=') + 1);
        std::erase_if(process.env, [&](const std::string& v) { return v.starts_with(name); });
        process.env.push_back(variable);
    }
    if (!options.cwd.empty()) process.cwd = options.cwd;
    return process;
}

} // namespace

int exec_in_container(const StateStore& store, const std::string& id, const ExecOptions& options) {
    if (options.args.empty()) throw UsageError("exec needs a command: exec ID -- CMD [ARG...]");
    std::optional<ConsoleProxy> proxy;
    Fd console;
    if (options.tty && !options.console_socket.empty()) {
        console = connect_console_socket(options.console_socket);
    } else if (options.tty) {
        if (options.detach)
            throw UsageError("exec --tty --detach needs --console-socket to receive the terminal");
        proxy.emplace();
        console = proxy->take_container_end();
    }
    const ContainerState state = store.load(id);
    const Status status = store.status(state);
    if (status != Status::running)
        throw Error(fmt::format("cannot exec in container {}: it is {}, not running", id,
                                to_string(status)));
    const oci::Config config = oci::load_config(state.bundle);
    const oci::Process process = exec_process_config(*config.process, options);
    auto cgroup = cgroups::Cgroup::open(state.cgroup_paths);
    const auto namespaces = open_container_namespaces(state.pid, config.linux);
    const bool joins_pid_namespace = config.linux.has_namespace(oci::NamespaceType::pid);
    const auto seccomp = seccomp_program(config, store.root());

    const pid_t child = ::fork();
    if (child < 0) throw_errno("fork for exec in", "container " + id);
    if (child == 0) {
        try {
            // As for init: nothing in the container may reach our /proc/PID/exe.
            ::prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
            cgroup.join(::getpid());
            join_namespaces(namespaces);
            // Joining a pid namespace takes effect for children only.
            const pid_t runner = joins_pid_namespace ? ::fork() : 0;
            if (runner < 0) throw_errno("fork in", "container " + id);
            if (runner > 0) ::_exit(wait_for(runner));
            enter_working_directory(process);
            if (console) setup_terminal(console.get(), process.console_size);
            exec_process(process, resolve_executable(process), seccomp);
        } catch (const std::exception& error) {
            fail(error);
        }
    }
    if (!options.pid_file.empty())
        state::write_file_atomic(options.pid_file, std::to_string(child), 0644,
                                 state::Durability::killed_writer);
    console.reset();
    if (proxy) {
        proxy->receive_master();
        proxy->pump();
    }
    if (options.detach) return 0;
    return wait_for(child);
}

} // namespace lcloud::runtime

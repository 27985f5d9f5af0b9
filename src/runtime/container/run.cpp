#include "common/error.hpp"
#include "runtime/container/commands.hpp"
#include "runtime/container/console_proxy.hpp"
#include "runtime/oci/config_parse.hpp"

#include <cerrno>
#include <csignal>
#include <sys/wait.h>

namespace lcloud::runtime {

namespace {

pid_t forward_to = 0;

void forward_signal(int signal) {
    if (forward_to > 0) ::kill(forward_to, signal);
}

} // namespace

int run_container(const StateStore& store, const CreateOptions& options, bool detach) {
    const oci::Config config =
        oci::load_config(std::filesystem::absolute(options.bundle).lexically_normal());
    // A terminal nobody asked to receive is ours to connect to our stdio, as `runc run` does.
    std::optional<ConsoleProxy> console;
    if (config.process && config.process->terminal && options.console_socket.empty()) {
        if (detach)
            throw UsageError("config.json asks for a terminal (process.terminal): with --detach "
                             "pass --console-socket to receive it, or set terminal to false");
        console.emplace();
    }
    const pid_t pid =
        create_container(store, options, config, console ? console->take_container_end() : Fd{});
    try {
        if (console) console->receive_master();
        start_container(store, options.id);
    } catch (...) {
        try {
            delete_container(store, options.id, true, &config);
        } catch (...) {
        }
        ::waitpid(pid, nullptr, 0);
        throw;
    }
    if (detach) return 0;

    // While we wait, what the user sends us goes to the container.
    forward_to = pid;
    struct sigaction action {};
    action.sa_handler = forward_signal;
    for (const int signal : {SIGINT, SIGTERM, SIGHUP, SIGQUIT})
        ::sigaction(signal, &action, nullptr);
    if (console) console->pump();
    int status = 0;
    while (::waitpid(pid, &status, 0) < 0) {
        if (errno != EINTR) throw_errno("wait for", "container " + options.id);
    }
    forward_to = 0;
    delete_container(store, options.id, true, &config);
    return exit_code_of(status);
}

} // namespace lcloud::runtime

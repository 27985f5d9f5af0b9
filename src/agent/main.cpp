// lcloud-agent: the supervisor where the containers live (the VM, or this host for the local
// provider). See agent.hpp and protocol/protocol.hpp.

#include "agent/agent.hpp"
#include "agent/ports/forwards_file.hpp"
#include "agent/ports/host_forwarder.hpp"
#include "agent/protocol/protocol.hpp"
#include "agent/server/attach.hpp"
#include "common/fd.hpp"
#include "state/atomic_file.hpp"

#include <CLI/CLI.hpp>
#include <cstdio>
#include <cstring>
#include <fcntl.h>
#include <iostream>
#include <optional>
#include <spdlog/sinks/stdout_sinks.h>
#include <spdlog/spdlog.h>
#include <sys/inotify.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

namespace {

void append_output_to(const std::filesystem::path& log) {
    const int out = ::open(log.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
    if (out < 0) lcloud::throw_errno("open", log.string());
    ::dup2(out, 1);
    ::dup2(out, 2);
    ::close(out);
}

// Detaches from the caller: a new session, stdio to the log file, and the caller returns at
// once. Returns in the daemon only.
void daemonize(const std::filesystem::path& log_file) {
    if (const pid_t first = ::fork(); first != 0) {
        if (first < 0) lcloud::throw_errno("fork", "lcloud-agent");
        ::_exit(0);
    }
    ::setsid();
    if (const pid_t second = ::fork(); second != 0) ::_exit(second < 0 ? 1 : 0);
    std::filesystem::create_directories(log_file.parent_path());
    const int null = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
    ::dup2(null, 0);
    append_output_to(log_file);
    ::chdir("/");
}

// `forward`: checks forwards.json while the caller still sees the exit code and stderr, then
// detaches and serves until SIGTERM.
int run_forwarder(std::filesystem::path state_dir, bool foreground) {
    namespace agent = lcloud::agent;
    state_dir = std::filesystem::absolute(state_dir).lexically_normal();
    const auto file = state_dir / agent::forwards_file_name;
    const auto text = lcloud::state::read_file(file);
    if (!text) throw lcloud::Error(file.string() + ": no such file; lcloud writes it");
    agent::parse_forwards_file(*text, file.string());
    // lcloud's own fds (its environment lock, its libvirt connection) must not live on in here.
    ::close_range(3, ~0U, 0);
    if (!foreground) daemonize(state_dir / agent::forwarder_log_file_name);
    spdlog::set_default_logger(spdlog::stderr_logger_st("forwarder"));
    spdlog::set_pattern("%Y-%m-%d %H:%M:%S.%e %l %v");
    agent::HostForwarder forwarder(state_dir);
    forwarder.run();
    return 0;
}

// `serve --start-after FILE`: the VM's init starts the agent before its boot checkpoint, so that
// a restore finds it linked and loaded (under TCG that costs a tenth of a second); it goes on
// once FILE exists, which the init creates when the agent's root (the data disk) is mounted.
void wait_for_file(const std::filesystem::path& file) {
    lcloud::Fd watch(::inotify_init1(IN_CLOEXEC));
    if (!watch) lcloud::throw_errno("inotify_init1", file.string());
    // Watched before looked for: a file made in between is not missed.
    if (::inotify_add_watch(watch.get(), file.parent_path().c_str(), IN_CREATE | IN_MOVED_TO) < 0)
        lcloud::throw_errno("inotify_add_watch", file.parent_path().string());
    char events[4096];
    while (!std::filesystem::exists(file))
        if (::read(watch.get(), events, sizeof events) < 0 && errno != EINTR)
            lcloud::throw_errno("read inotify events for", file.string());
}

} // namespace

int main(int argc, char** argv) {
    CLI::App app{"lcloud-agent: supervises the containers of one machine, serving the lcloud agent "
                 "protocol (JSON lines)",
                 "lcloud-agent"};
    app.require_subcommand(1);
    lcloud::agent::AgentOptions options;
    std::string socket = "/run/lcloud/agent.sock";
    bool daemon = false;
    bool verbose = false;
    app.add_flag("-v,--verbose", verbose, "Log debug messages");

    auto* serve = app.add_subcommand("serve", "Serve clients on a unix socket");
    serve->add_option("--root", options.root, "Where images, containers and state live");
    serve->add_option("--socket", socket, "The unix socket to listen on");
    std::string listen_tcp;
    serve->add_option("--listen-tcp", listen_tcp,
                      "Also serve on TCP at ADDRESS:PORT (loopback only: clients are not "
                      "authenticated)");
    std::optional<int> priority;
    serve->add_option("--priority", priority,
                      "The nice value to take once loaded (boxes built by an older lcloud start "
                      "the agent niced this way)");
    serve->add_flag("--daemon", daemon, "Detach; log to ROOT/agent.log");
    std::filesystem::path start_after;
    std::filesystem::path log_file;
    serve->add_option("--start-after", start_after,
                      "Load, then wait until this file exists before anything else (the VM's init "
                      "starts the agent before its boot checkpoint)");
    serve->add_option("--log", log_file, "Append stdout and stderr to this file once started");
    serve->add_flag("--exit-when-empty", options.exit_when_empty,
                    "Exit once no container and no client is left");
    auto* stdio = app.add_subcommand("stdio", "Serve one client on stdin and stdout");
    stdio->add_option("--root", options.root, "Where images, containers and state live");
    auto* attach = app.add_subcommand(
        "attach", "Connect stdin and stdout to a serving agent (for an SSH exec channel)");
    attach->add_option("--socket", socket, "The agent's unix socket");
    app.add_subcommand("version", "Print the version and the protocol");
    auto* forward = app.add_subcommand(
        "forward", "Forward the host's ports into the VM, as STATE/forwards.json lists them");
    std::filesystem::path state_dir;
    bool foreground = false;
    forward->add_option("--state", state_dir, "The environment's state directory")->required();
    forward->add_flag("--foreground", foreground, "Do not detach; log to stderr");

    CLI11_PARSE(app, argc, argv);
    try {
        if (app.got_subcommand("version")) {
            std::cout << "lcloud-agent " << LCLOUD_VERSION << " (protocol "
                      << lcloud::agent::protocol_version << ")\n";
            return 0;
        }
        if (attach->parsed()) return lcloud::agent::attach_stdio(socket);
        if (forward->parsed()) return run_forwarder(state_dir, foreground);
        if (const char* durable = std::getenv("LCLOUD_AGENT_NO_FSYNC"); durable && *durable)
            options.durable_images = false;
        // stdout carries the protocol in stdio mode: logs go to stderr.
        spdlog::set_default_logger(spdlog::stderr_logger_st("agent"));
        spdlog::set_level(verbose ? spdlog::level::debug : spdlog::level::info);
        if (serve->parsed()) {
            if (!start_after.empty()) wait_for_file(start_after);
            // The log may live on a disk mounted only once the agent may start.
            if (!log_file.empty()) append_output_to(log_file);
            // Before any container is recovered or started: they inherit it.
            if (priority && ::setpriority(PRIO_PROCESS, 0, *priority) != 0)
                spdlog::warn("agent: cannot take nice value {}: {}", *priority,
                             std::strerror(errno));
            if (daemon) daemonize(options.root / "agent.log");
            lcloud::agent::Agent agent(options);
            agent.listen(socket);
            if (!listen_tcp.empty()) agent.listen_tcp(listen_tcp);
            spdlog::info("agent: pid {} serving {} on {}", ::getpid(), options.root.string(),
                         socket);
            agent.run();
            return 0;
        }
        lcloud::agent::Agent agent(options);
        agent.serve_stdio(STDIN_FILENO, STDOUT_FILENO);
        agent.run();
        return 0;
    } catch (const std::exception& error) {
        std::cerr << "lcloud-agent: error: " << error.what() << '\n';
        return 1;
    }
}

// lcloud-runtime: the OCI runtime command line, in runc's forms.
#include "common/error.hpp"
#include "runtime/container/commands.hpp"
#include "runtime/oci/config_json.hpp"
#include "runtime/oci/defaults.hpp"
#include "state/atomic_file.hpp"

#include <CLI/CLI.hpp>
#include <fcntl.h>
#include <fmt/format.h>
#include <iostream>
#include <nlohmann/json.hpp>
#include <set>
#include <sys/stat.h>
#include <unistd.h>

namespace fs = std::filesystem;
using namespace lcloud;
using namespace lcloud::runtime;

namespace {

struct Globals {
    std::string root = "/run/lcloud-runtime";
    std::string log;
    std::string log_format = "text";
};

// Errors also go to --log, where containerd and podman look for them.
void log_error(const Globals& globals, const std::string& message) {
    if (globals.log.empty()) return;
    const std::string line =
        globals.log_format == "json"
            ? nlohmann::json{{"level", "error"}, {"msg", message}}.dump() + "\n"
            : "error: " + message + "\n";
    const int fd = ::open(globals.log.c_str(), O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600);
    if (fd < 0) return;
    (void)!::write(fd, line.data(), line.size());
    ::close(fd);
}

void print_list(const StateStore& store, bool quiet, const std::string& format) {
    if (quiet) {
        for (const auto& id : store.ids())
            std::cout << id << '\n';
        return;
    }
    auto list = nlohmann::ordered_json::array();
    std::string table =
        fmt::format("{:<20} {:<8} {:<8} {:<40} {}\n", "ID", "PID", "STATUS", "BUNDLE", "CREATED");
    for (const auto& id : store.ids()) {
        const auto state = store.load(id);
        const auto status = store.status(state);
        const pid_t pid = status == Status::stopped ? 0 : state.pid;
        list.push_back({{"id", id},
                        {"pid", pid},
                        {"status", to_string(status)},
                        {"bundle", state.bundle.string()},
                        {"created", state.created}});
        table += fmt::format("{:<20} {:<8} {:<8} {:<40} {}\n", id, pid, to_string(status),
                             state.bundle.string(), state.created);
    }
    std::cout << (format == "json" ? list.dump(2) + "\n" : table);
}

void write_spec(const fs::path& bundle) {
    const fs::path file = bundle / "config.json";
    if (fs::exists(file))
        throw Error(fmt::format("{} already exists; not overwriting it", file.string()));
    state::write_file_atomic(file, oci::to_json(oci::default_spec()).dump(2) + "\n", 0644);
}

// Everything after exec's container id is the command, options of its own included, as with
// runc; CLI11 would take those options as exec's, so they are cut off before it parses.
std::pair<std::vector<char*>, std::vector<std::string>> split_exec_command(int argc, char** argv) {
    static const std::set<std::string> with_value = {
        "--root", "--log", "--log-format", "-e",
        "--env",  "--cwd", "--pid-file",   "--console-socket"};
    std::vector<char*> arguments(argv, argv + argc);
    std::vector<std::string> command;
    bool in_exec = false;
    for (int index = 1; index < argc; ++index) {
        const std::string argument = argv[index];
        if (with_value.contains(argument)) {
            ++index;
        } else if (argument.starts_with("-")) {
            continue;
        } else if (!in_exec) {
            if (argument != "exec") break;
            in_exec = true;
        } else {
            // The container id: what follows is the command.
            int first = index + 1;
            if (first < argc && std::string(argv[first]) == "--") ++first;
            command.assign(argv + first, argv + argc);
            arguments.resize(static_cast<size_t>(index) + 1);
            break;
        }
    }
    return {arguments, command};
}

} // namespace

int main(int argc, char** argv) {
    Globals globals;
    CLI::App app{"lcloud-runtime: lcloud's OCI container runtime", "lcloud-runtime"};
    app.require_subcommand(1);
    app.add_option("--root", globals.root, "Where container state lives")->capture_default_str();
    app.add_option("--log", globals.log, "Append errors to this file");
    app.add_option("--log-format", globals.log_format, "text or json");
    bool ignored_flag = false;
    app.add_flag("--debug,--systemd-cgroup", ignored_flag, "Accepted for compatibility; no effect");
    app.footer("Example:\n  lcloud-runtime run --bundle ./bundle demo");

    CreateOptions create;
    std::string id, signal = "TERM";
    bool detach = false, force = false, all = false, quiet = false;
    std::string list_format = "table";
    ExecOptions exec;
    std::string spec_bundle = ".";

    const auto add_create_options = [&](CLI::App* command) {
        command->add_option("id", create.id, "Container id")->required();
        command->add_option("-b,--bundle", create.bundle, "The bundle directory");
        command->add_option("--pid-file", create.pid_file, "Write the init's pid here");
        command->add_option("--console-socket", create.console_socket,
                            "Unix socket that receives the terminal's master");
    };
    auto* create_cmd = app.add_subcommand("create", "Create a container, ready to start");
    add_create_options(create_cmd);
    auto* run_cmd = app.add_subcommand("run", "Create, start, wait for and delete a container");
    add_create_options(run_cmd);
    run_cmd->add_flag("-d,--detach", detach, "Return once started");
    auto* start_cmd = app.add_subcommand("start", "Start a created container");
    start_cmd->add_option("id", id)->required();
    auto* state_cmd = app.add_subcommand("state", "Print a container's state as OCI JSON");
    state_cmd->add_option("id", id)->required();
    auto* kill_cmd = app.add_subcommand("kill", "Send a signal to a container");
    kill_cmd->add_option("id", id)->required();
    kill_cmd->add_option("signal", signal, "Name or number (default TERM)");
    kill_cmd->add_flag("-a,--all", all, "Signal every process of the container");
    auto* delete_cmd = app.add_subcommand("delete", "Delete a stopped container");
    delete_cmd->add_option("id", id)->required();
    delete_cmd->add_flag("-f,--force", force, "Kill it first if it runs");
    auto* exec_cmd = app.add_subcommand("exec", "Run a process in a running container");
    exec_cmd->add_option("id", id)->required();
    exec_cmd->add_flag("-t,--tty", exec.tty, "Allocate a terminal");
    exec_cmd->add_option("--console-socket", exec.console_socket,
                         "With --tty: Unix socket that receives the terminal's master");
    exec_cmd->add_option("-e,--env", exec.env, "KEY=value to set");
    exec_cmd->add_option("--cwd", exec.cwd, "Working directory");
    exec_cmd->add_flag("-d,--detach", exec.detach, "Do not wait for the process");
    exec_cmd->add_option("--pid-file", exec.pid_file, "Write the process's pid here");
    exec_cmd->footer("Example:\n  lcloud-runtime exec demo -- ps aux");
    auto* list_cmd = app.add_subcommand("list", "List containers");
    list_cmd->add_flag("-q,--quiet", quiet, "Only ids");
    list_cmd->add_option("-f,--format", list_format, "table or json");
    auto* spec_cmd = app.add_subcommand("spec", "Write a default config.json");
    spec_cmd->add_option("-b,--bundle", spec_bundle, "Where to write it");
    for (auto* command : app.get_subcommands({}))
        if (command->get_footer().empty())
            command->footer(fmt::format("Example:\n  lcloud-runtime {} demo", command->get_name()));
    spec_cmd->footer("Example:\n  mkdir bundle && cd bundle && lcloud-runtime spec");
    list_cmd->footer("Example:\n  lcloud-runtime list --format json");

    auto [arguments, exec_command] = split_exec_command(argc, argv);
    try {
        app.parse(static_cast<int>(arguments.size()), arguments.data());
    } catch (const CLI::ParseError& error) {
        return app.exit(error);
    }

    try {
        const StateStore store(globals.root);
        if (create_cmd->parsed()) {
            create_container(store, create);
        } else if (run_cmd->parsed()) {
            return run_container(store, create, detach);
        } else if (start_cmd->parsed()) {
            start_container(store, id);
        } else if (state_cmd->parsed()) {
            std::cout << store.state_json(store.load(id)) << '\n';
        } else if (kill_cmd->parsed()) {
            kill_container(store, id, parse_signal(signal), all);
        } else if (delete_cmd->parsed()) {
            if (force && !store.exists(id)) return 0;
            delete_container(store, id, force);
        } else if (exec_cmd->parsed()) {
            exec.args = std::move(exec_command);
            if (exec.args.empty())
                throw UsageError("exec needs a command after the container id, e.g. "
                                 "'lcloud-runtime exec demo -- ps'");
            return exec_in_container(store, id, exec);
        } else if (list_cmd->parsed()) {
            print_list(store, quiet, list_format);
        } else if (spec_cmd->parsed()) {
            write_spec(spec_bundle);
        }
        return 0;
    } catch (const Error& error) {
        log_error(globals, error.what());
        std::cerr << "lcloud-runtime: " << error.what() << '\n';
        return error.exit_code();
    } catch (const std::exception& error) {
        log_error(globals, error.what());
        std::cerr << "lcloud-runtime: unexpected failure: " << error.what() << '\n';
        return 1;
    }
}

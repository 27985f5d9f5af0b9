#include "agent/protocol/protocol.hpp"
#include "cli/app.hpp"
#include "cli/environment.hpp"
#include "engine/converge.hpp"
#include "providers/forward/forwarder.hpp"
#include "state/env_lock.hpp"
#include "state/state_dir.hpp"

#include <fmt/format.h>
#include <iostream>
#include <memory>
#include <spdlog/spdlog.h>
#include <termios.h>
#include <thread>
#include <unistd.h>

namespace lcloud::cli {

namespace {

std::string short_name(const Environment& environment, const agent::ContainerStatus& status) {
    return status.spec.id.substr(environment.name.size() + 1);
}

// The containers NAME means: a service (all its replicas) or one replica ("node-2").
std::vector<agent::ContainerStatus> resolve(Environment& environment, const std::string& name) {
    std::vector<agent::ContainerStatus> out;
    const auto all = list_containers(environment);
    for (const auto& status : all)
        if (short_name(environment, status) == name) return {status};
    for (const auto& status : all)
        if (status.spec.service == name) out.push_back(status);
    if (out.empty())
        throw Error(
            fmt::format("no container '{}' in {} (see 'lcloud ps')", name, environment.name));
    return out;
}

Environment require_running(const Context& context) {
    auto environment = open_environment(context, false);
    if (!attach_agent(environment)) throw Error(environment.unavailable);
    return environment;
}

// Restores the terminal's settings when the exec ends, however it ends.
class RawTerminal {
  public:
    RawTerminal() {
        if (::tcgetattr(STDIN_FILENO, &saved_) != 0) return;
        termios raw = saved_;
        ::cfmakeraw(&raw);
        active_ = ::tcsetattr(STDIN_FILENO, TCSANOW, &raw) == 0;
    }
    ~RawTerminal() {
        if (active_) ::tcsetattr(STDIN_FILENO, TCSANOW, &saved_);
    }

  private:
    termios saved_{};
    bool active_ = false;
};

void add_ps(CLI::App& app, Context& context) {
    auto* command = app.add_subcommand("ps", "List the environment's containers");
    context.on_run(command, [&context] {
        auto environment = open_environment(context, false);
        // A VM that does not run has no containers to show: say so, rather than an empty list.
        if (!attach_agent(environment) && environment.machine) throw Error(environment.unavailable);
        std::vector<agent::ContainerStatus> containers;
        if (environment.agent) containers = list_containers(environment);
        if (context.options().json) {
            std::cout << nlohmann::json(containers).dump(2) << '\n';
            return;
        }
        std::vector<std::vector<std::string>> rows{
            {"NAME", "STATE", "HEALTH", "RESTARTS", "ADDRESS", "PORTS"}};
        for (const auto& status : containers)
            rows.push_back({short_name(environment, status),
                            status.state + (status.exit_code && status.state != "running"
                                                ? fmt::format(" ({})", *status.exit_code)
                                                : ""),
                            status.health.empty() ? "-" : status.health,
                            std::to_string(status.restarts), status.address, ports_text(status)});
        print_table(rows);
    });
}

void add_logs(CLI::App& app, Context& context) {
    auto* command = app.add_subcommand("logs", "Print a container's output");
    struct Options {
        std::string name;
        bool follow = false;
        int64_t tail = -1;
        bool timestamps = false;
    };
    auto options = std::make_shared<Options>();
    command->add_option("name", options->name, "A container, or a service (all its replicas)")
        ->required();
    command->add_flag("-f,--follow", options->follow, "Keep printing new output, across restarts");
    command->add_option("-n,--tail", options->tail, "Only the last N lines of each");
    command->add_flag("-t,--timestamps", options->timestamps, "Show when each line was written");
    context.on_run(command, [&context, options] {
        auto environment = require_running(context);
        const auto containers = resolve(environment, options->name);
        const bool prefix = containers.size() > 1;
        auto print = [&](const std::string& who, const nlohmann::json& message) {
            const auto& entry = message.at("entry");
            std::string line;
            if (prefix) line += who + " | ";
            if (options->timestamps) line += entry.value("time", "") + " ";
            line += entry.value("log", "");
            auto& out = entry.value("stream", "") == "stderr" ? std::cerr : std::cout;
            out << line << std::flush;
        };
        auto stream = [&](agent::AgentClient& client, const agent::ContainerStatus& status) {
            const std::string who = short_name(environment, status);
            client.call_streaming(
                "container.logs",
                {{"id", status.spec.id}, {"tail", options->tail}, {"follow", options->follow}},
                [&](const nlohmann::json& message) { print(who, message); });
        };
        if (!options->follow || containers.size() == 1) {
            for (const auto& status : containers)
                stream(*environment.agent, status);
            return;
        }
        // One connection per replica, each followed on its own thread.
        std::vector<std::thread> threads;
        for (const auto& status : containers)
            threads.emplace_back([&, status] {
                try {
                    auto client = environment.connect_again();
                    stream(client, status);
                } catch (const std::exception& error) {
                    std::cerr << "lcloud: logs of " << status.spec.id << ": " << error.what()
                              << '\n';
                }
            });
        for (auto& thread : threads)
            thread.join();
    });
}

void add_exec(CLI::App& app, Context& context) {
    auto* command = app.add_subcommand("exec", "Run a command in a running container");
    struct Options {
        std::string name;
        std::vector<std::string> args;
        bool interactive = false;
        bool tty = false;
        std::vector<std::string> env;
        std::string workdir;
    };
    auto options = std::make_shared<Options>();
    command->add_option("name", options->name, "The container (a service's first replica)")
        ->required();
    command->add_option("command", options->args, "The command and its arguments (after --)")
        ->required();
    command->add_flag("-i,--interactive", options->interactive, "Pass stdin to the command");
    command->add_flag("-t,--tty", options->tty, "Give the command a terminal");
    command->add_option("-e,--env", options->env, "KEY=VALUE for the command's environment");
    command->add_option("-w,--workdir", options->workdir, "Its working directory");
    command->footer("Example:\n  lcloud exec -it master -- sh\n  lcloud exec node-2 -- cat "
                    "/etc/hostname");
    context.on_run(command, [&context, options] {
        auto environment = require_running(context);
        const auto target = resolve(environment, options->name).front();
        auto& client = *environment.agent;
        std::optional<RawTerminal> raw;
        if (options->tty && ::isatty(STDIN_FILENO)) raw.emplace();
        std::vector<int> extra;
        if (options->interactive) extra.push_back(STDIN_FILENO);
        int64_t request = 0;
        const auto result = client.call_streaming(
            "container.exec",
            {{"id", target.spec.id},
             {"args", options->args},
             {"env", options->env},
             {"cwd", options->workdir},
             {"tty", options->tty},
             {"stdin", options->interactive}},
            [&](const nlohmann::json& message) {
                const std::string data = agent::base64_decode(message.value("data", ""));
                const int fd = message.value("stream", "") == "stderr" ? 2 : 1;
                (void)!::write(fd, data.data(), data.size());
            },
            extra,
            [&](int fd) {
                request = client.current_request();
                char buffer[16384];
                const ssize_t got = ::read(fd, buffer, sizeof buffer);
                if (got <= 0) {
                    client.send_input({{"id", request}, {"eof", true}});
                    extra.clear();
                    return;
                }
                client.send_input(
                    {{"id", request},
                     {"data", agent::base64_encode(std::string_view(buffer, size_t(got)))}});
            });
        raw.reset();
        const int code = result.value("exit_code", 1);
        if (code != 0) throw ExitStatus(code);
    });
}

void add_port(CLI::App& app, Context& context) {
    auto* command = app.add_subcommand("port", "Print the published ports");
    auto name = std::make_shared<std::string>();
    command->add_option("name", *name, "Only this container or service");
    context.on_run(command, [&context, name] {
        auto environment = require_running(context);
        const auto containers =
            name->empty() ? list_containers(environment) : resolve(environment, *name);
        for (const auto& status : containers)
            for (const auto& port : status.ports)
                std::cout << fmt::format("{}\t{}/{} -> {}:{}\n", short_name(environment, status),
                                         port.container_port, port.protocol, port.host_ip,
                                         port.host_port);
    });
}

void add_halt(CLI::App& app, Context& context) {
    auto* command = app.add_subcommand(
        "halt", "Stop every container (and power the VM off); 'up' starts them again");
    auto timeout = std::make_shared<int>(30);
    command
        ->add_option("--timeout", *timeout,
                     "Seconds to wait for the VM's own shutdown before forcing it off")
        ->capture_default_str();
    context.on_run(command, [&context, timeout] {
        auto environment = open_environment(context, false);
        if (environment.machine) {
            const auto state = state::StateDir::open(environment.project.dir);
            const auto lock = state::EnvLock::acquire(state.file("lock"), "halt");
            // The containers first, each with its grace period, while the agent can do it.
            try {
                if (vm_may_hold_containers(environment) && attach_agent(environment)) {
                    const auto stopped = engine::halt(*environment.agent, environment.name);
                    if (!stopped.empty() && !context.options().quiet)
                        std::cout << fmt::format("{}: stopped {} container{}\n", environment.name,
                                                 stopped.size(), stopped.size() == 1 ? "" : "s");
                }
            } catch (const Error& error) {
                std::cerr << "warning: stopping the containers in the VM: " << error.what()
                          << "; the VM's shutdown stops them\n";
            }
            environment.agent.reset();
            providers::forward::stop_forwarder(state.path());
            environment.machine->halt(std::chrono::seconds(*timeout));
            std::cout << fmt::format("{}: the VM is {}\n", environment.name,
                                     providers::to_string(environment.machine->status().state));
            return;
        }
        if (!environment.agent) {
            std::cout << environment.name << ": nothing runs\n";
            return;
        }
        const auto state = state::StateDir::open(environment.project.dir);
        const auto lock = state::EnvLock::acquire(state.file("lock"), "halt");
        const auto stopped = engine::halt(*environment.agent, environment.name);
        std::cout << fmt::format("{}: stopped {} container{}\n", environment.name, stopped.size(),
                                 stopped.size() == 1 ? "" : "s");
    });
}

void add_destroy(CLI::App& app, Context& context) {
    auto* command = app.add_subcommand(
        "destroy", "Remove the containers, their network and named volumes (and the VM with its "
                   "disks and keys); keep images and boxes");
    auto forget_images = std::make_shared<bool>(false);
    command->add_flag("--images", *forget_images,
                      "Also remove the images the VM built or imported, which are otherwise kept "
                      "for the next up");
    context.on_run(command, [&context, forget_images] {
        auto environment = open_environment(context, false);
        if (environment.machine) {
            const auto state = state::StateDir::open(environment.project.dir);
            const auto lock = state::EnvLock::acquire(state.file("lock"), "destroy");
            // The containers go with the VM's disk; name them in what destroy says.
            std::vector<std::string> containers;
            try {
                if (vm_may_hold_containers(environment) && attach_agent(environment))
                    for (const auto& status : list_containers(environment))
                        containers.push_back(short_name(environment, status));
            } catch (const Error& error) {
                spdlog::debug("listing the containers in the VM: {}", error.what());
            }
            environment.agent.reset();
            std::error_code ignored_error;
            const bool forwarded = providers::forward::stop_forwarder(state.path());
            auto [removed, kept] = environment.machine->destroy(!*forget_images);
            if (forwarded) removed.push_back("the port forwarder of " + environment.name);
            for (const char* file : {"forwards.json", "forwarder.log"})
                if (std::filesystem::remove(state.file(file), ignored_error))
                    removed.push_back(state.file(file).string());
            // What was built into that VM went with it.
            std::error_code ignored;
            std::filesystem::remove(state.file("builds.json"), ignored);
            note_vm_containers(environment, false);
            if (!containers.empty()) {
                std::string names;
                for (const auto& name : containers)
                    names += (names.empty() ? "" : ", ") + name;
                removed.insert(removed.begin(),
                               fmt::format("{} container{} (with the VM): {}", containers.size(),
                                           containers.size() == 1 ? "" : "s", names));
            }
            if (state.remove_when_spent()) removed.push_back(state.path().string());
            if (context.options().json) {
                std::cout << nlohmann::json{{"removed", removed}, {"kept", kept}}.dump(2) << '\n';
                return;
            }
            if (removed.empty()) std::cout << environment.name << ": nothing to remove\n";
            for (const auto& line : removed)
                std::cout << "removed " << line << '\n';
            for (const auto& line : kept)
                std::cout << "kept " << line << '\n';
            return;
        }
        if (!environment.agent) {
            std::cout << environment.name << ": nothing to remove\n";
            return;
        }
        const auto state = state::StateDir::open(environment.project.dir);
        const auto lock = state::EnvLock::acquire(state.file("lock"), "destroy");
        auto removed = engine::destroy(*environment.agent, environment.name);
        if (state.remove_when_spent()) removed["state"] = state.path().string();
        if (context.options().json) {
            std::cout << removed.dump(2) << '\n';
            return;
        }
        for (const char* kind : {"containers", "networks", "volumes"}) {
            const auto& list = removed.at(kind);
            std::string names;
            for (const auto& item : list)
                names += (names.empty() ? "" : ", ") + item.get<std::string>();
            std::cout << fmt::format("removed {} {}{}\n", list.size(), kind,
                                     names.empty() ? "" : ": " + names);
        }
        if (removed.contains("state"))
            std::cout << "removed " << removed.at("state").get<std::string>() << '\n';
    });
}

} // namespace

void add_container_commands(CLI::App& app, Context& context) {
    add_ps(app, context);
    add_logs(app, context);
    add_exec(app, context);
    add_port(app, context);
    add_halt(app, context);
    add_destroy(app, context);
}

} // namespace lcloud::cli

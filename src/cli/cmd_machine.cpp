#include "cli/app.hpp"
#include "cli/environment.hpp"
#include "engine/converge.hpp"
#include "providers/ssh_target.hpp"
#include "ssh/config.hpp"
#include "ssh/session.hpp"
#include "state/env_lock.hpp"
#include "state/state_dir.hpp"

#include <fmt/format.h>
#include <iostream>
#include <unistd.h>

namespace lcloud::cli {

namespace {

// The environment's VM; an Error for provider local, which has none.
Environment require_machine(const Context& context) {
    auto environment = open_environment(context, false);
    if (!environment.machine)
        throw Error(fmt::format("{}: provider local has no VM; this command is for provider "
                                "libvirt",
                                environment.name));
    return environment;
}

// Runs `action` under the environment's lock, as every command that changes the VM does.
template <typename Action>
void with_lock(const Environment& environment, const char* what, Action action) {
    const auto state = state::StateDir::open(environment.project.dir);
    const auto lock = state::EnvLock::acquire(state.file("lock"), what);
    action();
}

void add_status(CLI::App& app, Context& context) {
    auto* command = app.add_subcommand("status", "Show the VM's state, address and box");
    context.on_run(command, [&context] {
        auto environment = open_environment(context, false);
        if (!environment.machine) {
            std::cout << environment.name
                      << ": provider local (no VM); 'lcloud ps' lists the "
                         "containers\n";
            return;
        }
        const auto status = environment.machine->status();
        // The containers too, when the VM runs and its agent answers.
        std::vector<agent::ContainerStatus> containers;
        std::string agent_problem;
        if (status.state == providers::MachineState::running &&
            vm_may_hold_containers(environment)) {
            try {
                if (attach_agent(environment)) containers = list_containers(environment);
            } catch (const Error& error) {
                agent_problem = error.what();
            }
        }
        const auto name = [&](const agent::ContainerStatus& container) {
            return container.spec.id.substr(environment.name.size() + 1);
        };
        if (context.options().json) {
            nlohmann::json list = nlohmann::json::array();
            for (const auto& container : containers)
                list.push_back({{"name", name(container)},
                                {"state", container.state},
                                {"health", container.health},
                                {"restarts", container.restarts},
                                {"address", container.address},
                                {"ports", ports_text(container)}});
            nlohmann::json out{{"environment", environment.name},
                               {"vm", status.name},
                               {"state", providers::to_string(status.state)},
                               {"address", status.address},
                               {"driver", status.driver},
                               {"box", status.box},
                               {"containers", list}};
            if (!agent_problem.empty()) out["agent_error"] = agent_problem;
            std::cout << out.dump(2) << '\n';
            return;
        }
        print_table(
            {{"VM", "STATE", "ADDRESS", "DRIVER", "BOX"},
             {status.name, std::string(providers::to_string(status.state)),
              status.address.empty() ? "-" : status.address,
              status.driver.empty() ? "-" : status.driver, status.box.empty() ? "-" : status.box}});
        if (!agent_problem.empty())
            std::cerr << "warning: the VM's agent: " << agent_problem << '\n';
        if (containers.empty()) return;
        std::cout << '\n';
        std::vector<std::vector<std::string>> rows{{"CONTAINER", "STATE", "HEALTH", "PORTS"}};
        for (const auto& container : containers)
            rows.push_back({name(container), container.state,
                            container.health.empty() ? "-" : container.health,
                            ports_text(container)});
        print_table(rows);
    });
}

void add_lifecycle(CLI::App& app, Context& context) {
    auto* suspend = app.add_subcommand("suspend", "Save the VM's state to disk and stop it");
    context.on_run(suspend, [&context] {
        auto environment = require_machine(context);
        with_lock(environment, "suspend", [&] {
            save_with_shares_detached(
                environment, [&] { environment.machine->suspend(); }, false);
        });
        std::cout << environment.name << ": suspended; 'lcloud resume' or 'lcloud up' resumes\n";
    });
    auto* resume = app.add_subcommand("resume", "Resume a suspended VM");
    context.on_run(resume, [&context] {
        auto environment = require_machine(context);
        with_lock(environment, "resume", [&] {
            environment.machine->resume(progress_printer(context));
            attach_container_shares(environment);
        });
    });
    auto* reload = app.add_subcommand("reload", "Halt the VM and boot it again");
    context.on_run(reload, [&context] {
        auto environment = require_machine(context);
        with_lock(environment, "reload",
                  [&] { environment.machine->reload(progress_printer(context)); });
    });
}

void add_snapshot(CLI::App& app, Context& context) {
    auto* snapshot = app.add_subcommand("snapshot", "Save, restore, list and delete snapshots "
                                                    "of the VM");
    snapshot->require_subcommand(1);
    auto name = std::make_shared<std::string>();
    auto add = [&](const char* verb, const char* help, auto action) {
        auto* command = snapshot->add_subcommand(verb, help);
        command->add_option("name", *name, "The snapshot's name")->required();
        context.on_run(command, [&context, name, verb, action] {
            auto environment = require_machine(context);
            with_lock(environment, "snapshot", [&] { action(environment, *name); });
            if (!context.options().quiet)
                std::cout << fmt::format("{}: snapshot {}: {}\n", environment.name, verb, *name);
        });
    };
    add("save", "Take a snapshot (of a running VM: its memory too)",
        [](Environment& environment, const std::string& n) {
            save_with_shares_detached(
                environment, [&] { environment.machine->snapshot_save(n); }, true);
        });
    add("restore", "Go back to a snapshot", [](Environment& environment, const std::string& n) {
        environment.machine->snapshot_restore(n);
        // Taken with the binds detached: the restored agent still knows them.
        if (environment.machine->status().state == providers::MachineState::running)
            attach_container_shares(environment);
    });
    add("delete", "Delete a snapshot", [](Environment& environment, const std::string& n) {
        environment.machine->snapshot_delete(n);
    });
    auto* list = snapshot->add_subcommand("list", "List the snapshots");
    context.on_run(list, [&context] {
        auto environment = require_machine(context);
        const auto names = environment.machine->snapshot_list();
        if (context.options().json) {
            std::cout << nlohmann::json(names).dump(2) << '\n';
            return;
        }
        for (const auto& entry : names)
            std::cout << entry << '\n';
    });
}

void add_ssh(CLI::App& app, Context& context) {
    auto* command = app.add_subcommand("ssh", "Open a shell in the VM, or run one command in it");
    auto args = std::make_shared<std::vector<std::string>>();
    command->add_option("command", *args, "The command and its arguments (after --)");
    command->footer("Examples:\n  lcloud ssh\n  lcloud ssh -- uname -r");
    context.on_run(command, [&context, args] {
        auto environment = require_machine(context);
        auto session =
            ssh::Session::connect(providers::ssh_target(environment.machine->ssh_endpoint()));
        std::optional<std::string> line;
        if (!args->empty()) {
            std::string joined;
            for (const auto& arg : *args)
                joined += (joined.empty() ? "" : " ") + arg;
            line = joined;
        }
        const int code =
            ::isatty(STDIN_FILENO) && ::isatty(STDOUT_FILENO)
                ? session.interactive(line, STDIN_FILENO)
                : session.run(line.value_or("sh"), STDIN_FILENO, STDOUT_FILENO, STDERR_FILENO);
        if (code != 0) throw ExitStatus(code);
    });

    auto* config = app.add_subcommand("ssh-config", "Print an OpenSSH client block for the VM "
                                                    "(for editors and IDEs)");
    context.on_run(config, [&context] {
        auto environment = require_machine(context);
        std::cout << ssh::ssh_config_block(
            environment.name, providers::ssh_target(environment.machine->ssh_endpoint()));
    });
}

} // namespace

void add_machine_commands(CLI::App& app, Context& context) {
    add_status(app, context);
    add_lifecycle(app, context);
    add_snapshot(app, context);
    add_ssh(app, context);
}

} // namespace lcloud::cli

#include "cli/app.hpp"
#include "cli/environment.hpp"
#include "engine/converge.hpp"
#include "state/env_lock.hpp"
#include "state/state_dir.hpp"

#include <fmt/format.h>
#include <iostream>

namespace lcloud::cli {

void add_up_command(CLI::App& app, Context& context) {
    auto* command = app.add_subcommand("up", "Bring up the environment: its containers, "
                                             "network, volumes and published ports");
    auto services = std::make_shared<std::vector<std::string>>();
    command->add_option("services", *services, "Only these containers (and what they need)");
    command->footer("A second 'up' with nothing changed restarts nothing.\nExamples:\n  lcloud "
                    "up\n  lcloud up haproxy");
    context.on_run(command, [&context, services] {
        auto environment = open_environment(context, true);
        const auto state = state::StateDir::open(environment.project.dir);
        const auto lock = state::EnvLock::acquire(state.file("lock"), "up");
        if (environment.machine) {
            environment.machine->up(progress_printer(context));
            const auto status = environment.machine->status();
            if (!environment.project.containers.empty() && !context.options().quiet)
                std::cerr << "notice: the containers of a libvirt environment do not start in "
                             "the VM yet; LCLOUD_PROVIDER=local runs them on this host\n";
            if (context.options().json)
                std::cout << nlohmann::json{{"environment", environment.name},
                                            {"vm", status.name},
                                            {"state", providers::to_string(status.state)},
                                            {"address", status.address}}
                                 .dump(2)
                          << '\n';
            else if (!context.options().quiet)
                std::cout << fmt::format("{}: VM {} {} at {} ('lcloud ssh' gets in)\n",
                                         environment.name, status.name,
                                         providers::to_string(status.state), status.address);
            return;
        }
        const bool quiet = context.options().quiet;
        engine::UpOptions options;
        options.services = *services;
        const auto result = engine::up(*environment.agent, environment.project, options,
                                       [quiet](const std::string& line) {
                                           if (!quiet) std::cerr << "==> " << line << '\n';
                                       });
        if (context.options().json) {
            std::cout << nlohmann::json{{"environment", environment.name},
                                        {"created", result.created},
                                        {"recreated", result.recreated},
                                        {"started", result.started},
                                        {"unchanged", result.unchanged},
                                        {"removed", result.removed},
                                        {"containers", result.containers}}
                             .dump(2)
                      << '\n';
            return;
        }
        if (quiet) return;
        if (!result.changed())
            std::cout << fmt::format("{}: everything is up to date; nothing was restarted\n",
                                     environment.name);
        std::vector<std::vector<std::string>> rows{{"CONTAINER", "STATE", "HEALTH", "URLS"}};
        for (const auto& status : result.containers) {
            std::string urls;
            for (const auto& port : status.ports)
                if (port.protocol == "tcp")
                    urls += fmt::format("{}http://{}:{}", urls.empty() ? "" : " ",
                                        port.host_ip == "0.0.0.0" ? "127.0.0.1" : port.host_ip,
                                        port.host_port);
            rows.push_back({status.spec.id.substr(environment.name.size() + 1), status.state,
                            status.health.empty() ? "-" : status.health, urls});
        }
        print_table(rows);
    });
}

} // namespace lcloud::cli

#include "cli/app.hpp"
#include "cli/environment.hpp"
#include "cli/logging.hpp"
#include "engine/converge.hpp"
#include "providers/forward/forwarder.hpp"
#include "providers/libvirt/vm_images.hpp"
#include "providers/local/local_agent.hpp"
#include "state/env_lock.hpp"
#include "state/state_dir.hpp"

#include <fmt/format.h>
#include <iostream>
#include <optional>
#include <spdlog/spdlog.h>

namespace lcloud::cli {

namespace {

// The host side of each published port, and the port the VM's agent binds for it on 0.0.0.0.
std::vector<providers::forward::PortForward> vm_forwards(const project::Project& project) {
    std::vector<providers::forward::PortForward> forwards;
    for (const auto& port : engine::host_forwards(project))
        forwards.push_back({port.protocol == "udp" ? agent::Protocol::udp : agent::Protocol::tcp,
                            port.host_ip, port.host_port, port.guest_port});
    return forwards;
}

void print_vm_alone(const Context& context, Environment& environment) {
    const auto status = environment.machine->status();
    if (context.options().json)
        std::cout << nlohmann::json{{"environment", environment.name},
                                    {"vm", status.name},
                                    {"state", providers::to_string(status.state)},
                                    {"address", status.address}}
                         .dump(2)
                  << '\n';
    else if (!context.options().quiet)
        std::cout << fmt::format("{}: VM {} {} at {}, no containers ('lcloud ssh' gets in)\n",
                                 environment.name, status.name, providers::to_string(status.state),
                                 status.address);
}

// What `up` and `reset` share: the VM (booted, or returned to its pristine state), the agent in
// it, the containers, the forwarder, and the summary.
void bring_up(Context& context, const std::vector<std::string>& services, bool reset) {
    auto environment = open_environment(context, true);
    const auto state = state::StateDir::open(environment.project.dir);
    add_state_log(state.path());
    const auto lock = state::EnvLock::acquire(state.file("lock"), reset ? "reset" : "up");
    const bool quiet = context.options().quiet;
    const auto progress = [quiet](const std::string& line) {
        if (!quiet) std::cerr << "==> " << line << '\n';
    };
    engine::UpOptions options;
    options.services = services;
    std::optional<providers::libvirt::VmImages> vm_images;
    std::vector<providers::forward::PortForward> forwards;
    auto& machine = environment.machine;
    if (machine) {
        if (reset && machine->status().state == providers::MachineState::not_created)
            throw Error(fmt::format("{}: there is nothing to reset; 'lcloud up' brings it up",
                                    environment.name));
        // A taken host port is said before the VM boots, naming who holds it.
        forwards = vm_forwards(environment.project);
        providers::forward::check_ports_free(state.path(), forwards);
        if (reset && machine->has_pristine()) {
            machine->restore_pristine(progress_printer(context));
        } else {
            if (reset)
                progress("warning: the VM has no pristine state yet (it is saved during the "
                         "first up that gets its images in place), so its disk is kept; the "
                         "containers and volumes are made anew");
            machine->up(progress_printer(context));
        }
        if (!vm_may_hold_containers(environment)) {
            // The VM alone: no agent to ask, nothing to forward.
            providers::forward::stop_forwarder(state.path());
            if (!machine->has_pristine()) machine->save_pristine(false, false);
            print_vm_alone(context, environment);
            return;
        }
        // The agent starts right after the guest says it is ready.
        environment.agent.emplace(machine->connect_agent(std::chrono::seconds(30)));
        spdlog::debug("connected to the agent in the VM");
        // A VM resumed from suspend gets back its containers' binds of shared folders.
        attach_container_shares(environment);
        vm_images.emplace(machine->ssh_endpoint(), state.path(),
                          providers::local::local_agent_paths().root / "images",
                          machine->status().name);
        options.carrier = &*vm_images;
        // The pristine state: the disks once the images are in place, before the first
        // container exists. reset returns to it and makes every container anew; destroy keeps
        // it as the image cache of the next cold up.
        if (!machine->has_pristine()) {
            const auto images_before = environment.agent->call("image.list", {});
            options.images_ready = [&, images_before](bool fresh) {
                if (!fresh) return;
                progress("saving the VM's pristine state, its images in place, which 'lcloud "
                         "reset' returns to");
                machine->save_pristine(true,
                                       environment.agent->call("image.list", {}) != images_before);
            };
        }
    }
    if (reset) {
        // Containers come anew from their images and named volumes start empty; images stay.
        // (A pristine state taken before any container has none to remove.)
        const auto removed = engine::destroy(*environment.agent, environment.name, true);
        const auto count = [](size_t n, const char* what) {
            return fmt::format("{} {}{}", n, what, n == 1 ? "" : "s");
        };
        if (!removed.at("containers").empty() || !removed.at("volumes").empty())
            progress(fmt::format("reset: removed {} and {}",
                                 count(removed.at("containers").size(), "container"),
                                 count(removed.at("volumes").size(), "volume")));
    }
    const auto result = engine::up(*environment.agent, environment.project, options, progress);
    if (machine) {
        note_vm_containers(environment, !result.containers.empty());
        // One forwarder for all the environment's ports, into the VM; it outlives reboots.
        providers::forward::start_or_update_forwarder(state.path(), machine->status().address,
                                                      forwards, agent_binary());
        // An up that found containers already there (one a killed up left) saves it now.
        if (!machine->has_pristine()) {
            progress("saving the VM's pristine state, which 'lcloud reset' returns to");
            machine->save_pristine(false, false);
        }
    }
    if (context.options().json) {
        std::cout << nlohmann::json{{"environment", environment.name}, {"created", result.created},
                                    {"recreated", result.recreated},   {"started", result.started},
                                    {"unchanged", result.unchanged},   {"removed", result.removed},
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
}

} // namespace

void add_up_command(CLI::App& app, Context& context) {
    auto* command = app.add_subcommand("up", "Bring up the environment: its containers, "
                                             "network, volumes and published ports");
    auto services = std::make_shared<std::vector<std::string>>();
    command->add_option("services", *services, "Only these containers (and what they need)");
    command->footer("A second 'up' with nothing changed restarts nothing.\nExamples:\n  lcloud "
                    "up\n  lcloud up haproxy");
    context.on_run(command, [&context, services] { bring_up(context, *services, false); });

    auto* reset = app.add_subcommand(
        "reset",
        "Back to pristine: the VM's disks as during the first up, its images in place, every "
        "container made anew from its image, named volumes emptied; images are kept");
    context.on_run(reset, [&context] { bring_up(context, {}, true); });
}

} // namespace lcloud::cli

#include "cli/environment.hpp"

#include "engine/converge.hpp"
#include "engine/plan.hpp"
#include "providers/libvirt/agent_transport.hpp"
#include "providers/libvirt/libvirt_machine.hpp"
#include "providers/local/local_agent.hpp"
#include "state/atomic_file.hpp"
#include "state/state_dir.hpp"

#include <algorithm>
#include <cstdlib>
#include <fmt/format.h>
#include <iostream>
#include <spdlog/spdlog.h>
#include <unistd.h>

namespace lcloud::cli {

Environment open_environment(const Context& context, bool start) {
    Environment environment{context.load_project(), "", nullptr, std::nullopt, "", {}};
    // Like VAGRANT_DEFAULT_PROVIDER, but it wins over the file: a project made for the VM runs
    // on this host with LCLOUD_PROVIDER=local.
    if (const char* forced = std::getenv("LCLOUD_PROVIDER"); forced && *forced) {
        if (std::string_view(forced) == "local")
            environment.project.provider = project::Provider::local;
        else if (std::string_view(forced) == "libvirt")
            environment.project.provider = project::Provider::libvirt;
        else
            throw Error(fmt::format("LCLOUD_PROVIDER={}: expected local or libvirt", forced));
    }
    const auto& project = environment.project;
    environment.name = engine::environment_name(project);
    if (project.provider == project::Provider::libvirt) {
        providers::libvirt::MachineConfig config;
        config.project_name = project.name;
        config.project_dir = project.dir;
        config.state_dir = project.dir / state::StateDir::dir_name;
        config.vm = project.vm;
        config.shares = project.shared_folders;
        config.agent_binary = agent_binary();
        environment.machine = std::make_unique<providers::libvirt::LibvirtMachine>(config);
        return environment;
    }
    if (project.vm_given && start && !context.options().quiet)
        std::cerr << "notice: provider local runs the containers on this host; the vm section "
                     "is ignored\n";
    if (auto client = providers::local::connect_local_agent(start))
        environment.agent.emplace(std::move(*client));
    else
        environment.unavailable =
            fmt::format("{} is not up: no agent runs; run 'lcloud up'", environment.project.name);
    environment.connect_again = [] { return *providers::local::connect_local_agent(false); };
    return environment;
}

bool attach_agent(Environment& environment) {
    if (environment.agent || !environment.machine) return environment.agent.has_value();
    // An agent that just started (the VM came up a moment ago) gets a few seconds.
    constexpr std::chrono::seconds wait{5};
    try {
        environment.agent.emplace(environment.machine->connect_agent(wait));
    } catch (const providers::MachineNotRunning& error) {
        environment.unavailable = error.what();
        return false;
    }
    environment.connect_again = [endpoint = environment.machine->ssh_endpoint(), wait] {
        return providers::libvirt::connect_agent_over_ssh(endpoint, wait);
    };
    return true;
}

namespace {
std::filesystem::path vm_containers_note(const Environment& environment) {
    return environment.project.dir / state::StateDir::dir_name / "vm-containers";
}
} // namespace

void attach_container_shares(Environment& environment) {
    if (!vm_may_hold_containers(environment) || !attach_agent(environment)) return;
    try {
        environment.agent->call("shares.attach", nlohmann::json::object());
    } catch (const agent::AgentError& error) {
        if (error.kind() != "unknown_method") throw; // an older agent detached nothing
    }
}

void save_with_shares_detached(Environment& environment, const std::function<void()>& save,
                               bool keeps_running) {
    if (environment.machine->status().state != providers::MachineState::running) return save();
    if (vm_may_hold_containers(environment) && attach_agent(environment))
        environment.agent->call("shares.detach", nlohmann::json::object());
    try {
        save();
    } catch (...) {
        attach_container_shares(environment);
        throw;
    }
    if (keeps_running) attach_container_shares(environment);
}

bool vm_may_hold_containers(const Environment& environment) {
    return !environment.project.containers.empty() ||
           std::filesystem::exists(vm_containers_note(environment));
}

void note_vm_containers(const Environment& environment, bool any) {
    std::error_code ignored;
    if (any)
        state::write_file_atomic(vm_containers_note(environment), "");
    else
        std::filesystem::remove(vm_containers_note(environment), ignored);
}

std::vector<agent::ContainerStatus> list_containers(Environment& environment) {
    auto containers = engine::environment_containers(*environment.agent, environment.name);
    engine::show_host_ports(environment.project, containers);
    return containers;
}

std::filesystem::path agent_binary() {
    auto binary = providers::local::local_agent_paths().binary;
    if (binary.is_absolute()) return binary;
    const char* path = std::getenv("PATH");
    std::string_view dirs = path ? path : "/usr/local/bin:/usr/bin:/bin";
    while (!dirs.empty()) {
        const auto colon = dirs.find(':');
        const std::filesystem::path candidate =
            std::filesystem::path(dirs.substr(0, colon)) / binary;
        if (::access(candidate.c_str(), X_OK) == 0) return candidate;
        if (colon == std::string_view::npos) break;
        dirs.remove_prefix(colon + 1);
    }
    return binary;
}

providers::Progress progress_printer(const Context& context) {
    const bool quiet = context.options().quiet;
    return [quiet](const std::string& line) {
        if (!quiet) std::cerr << "==> " << line << '\n';
    };
}

void print_table(const std::vector<std::vector<std::string>>& rows) {
    if (rows.empty()) return;
    std::vector<size_t> widths(rows.front().size(), 0);
    for (const auto& row : rows)
        for (size_t i = 0; i < row.size() && i < widths.size(); ++i)
            widths[i] = std::max(widths[i], row[i].size());
    for (const auto& row : rows) {
        std::string line;
        for (size_t i = 0; i < row.size(); ++i)
            line += i + 1 == row.size() ? row[i] : fmt::format("{:<{}}  ", row[i], widths[i]);
        while (!line.empty() && line.back() == ' ')
            line.pop_back();
        std::cout << line << '\n';
    }
}

std::string ports_text(const agent::ContainerStatus& status) {
    std::string out;
    for (const auto& port : status.ports)
        out += fmt::format("{}{}:{}->{}/{}", out.empty() ? "" : ", ", port.host_ip, port.host_port,
                           port.container_port, port.protocol);
    return out;
}

} // namespace lcloud::cli

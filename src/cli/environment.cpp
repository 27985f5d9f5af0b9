#include "cli/environment.hpp"

#include "engine/plan.hpp"
#include "providers/local/local_agent.hpp"

#include <algorithm>
#include <cstdlib>
#include <fmt/format.h>
#include <iostream>
#include <spdlog/spdlog.h>

namespace lcloud::cli {

Environment open_environment(const Context& context, bool start) {
    Environment environment{context.load_project(), "", std::nullopt};
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
    if (project.provider != project::Provider::local)
        throw Error(fmt::format("{}: provider '{}' is not available yet in this build (the VM "
                                "arrives with the libvirt provider); set 'provider: local' to run "
                                "the containers on this Linux host",
                                Context::display_path(project.file),
                                project::to_string(project.provider)));
    if (project.vm_given && start && !context.options().quiet)
        std::cerr << "notice: provider local runs the containers on this host; the vm section "
                     "is ignored\n";
    environment.name = engine::environment_name(project);
    if (auto client = providers::local::connect_local_agent(start))
        environment.agent.emplace(std::move(*client));
    return environment;
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

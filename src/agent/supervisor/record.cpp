#include "agent/supervisor/managed.hpp"

#include "common/error.hpp"
#include "state/atomic_file.hpp"

namespace lcloud::agent {

nlohmann::json record_json(const Supervisor::Managed& container) {
    return {{"status", container.status},
            {"pid_start_time", container.pid_start_time},
            {"stop_requested", container.stop_requested}};
}

std::unique_ptr<Supervisor::Managed> load_record(const ContainerPaths& paths) {
    const auto text = state::read_file(paths.record());
    if (!text) throw Error(paths.record().string() + ": no such file");
    const auto json = nlohmann::json::parse(*text);
    auto container = std::make_unique<Supervisor::Managed>();
    container->paths = paths;
    container->status = json.at("status").get<ContainerStatus>();
    container->pid_start_time = json.value("pid_start_time", 0ull);
    container->stop_requested = json.value("stop_requested", false);
    return container;
}

} // namespace lcloud::agent

#include "engine/converge.hpp"

#include "common/error.hpp"

#include <fmt/format.h>
#include <map>
#include <optional>
#include <set>
#include <thread>
#include <utility>

namespace lcloud::engine {

namespace {

using Clock = std::chrono::steady_clock;

std::optional<std::string> find_image(agent::AgentClient& agent, const std::string& image) {
    try {
        return agent.call("image.inspect", {{"name", image}}).at("id").get<std::string>();
    } catch (const agent::AgentError& error) {
        // A lost connection is not a missing image.
        if (error.kind() == "connection" || error.kind() == "protocol") throw;
        return std::nullopt;
    }
}

std::string image_id(agent::AgentClient& agent, const PlannedContainer& planned,
                     std::map<std::string, std::string>& cache, ImageCarrier* carrier,
                     const Progress& progress) {
    const std::string& image = planned.spec.image;
    if (auto found = cache.find(image); found != cache.end()) return found->second;
    if (auto id = find_image(agent, image)) return cache[image] = *id;
    if (!carrier)
        throw Error(fmt::format("container {}: image {} is not in the image store; import "
                                "it with 'lcloud image import', or build it",
                                planned.spec.service, image));
    if (carrier->carry_image(agent, image, progress))
        if (auto id = find_image(agent, image)) return cache[image] = *id;
    throw Error(fmt::format("container {}: image {} is neither in {} nor in this host's image "
                            "store; import it on this host ('lcloud image import FILE', or "
                            "'lcloud image bootstrap {}' for a Debian base), or give {} a "
                            "'build:'",
                            planned.spec.service, image, carrier->where(), image,
                            planned.spec.service));
}

// A build's FROM images that the agent lacks come from this host's store.
void carry_base_images(agent::AgentClient& agent, const PlannedContainer& planned,
                       ImageCarrier& carrier, const Progress& progress) {
    const auto& build = *planned.build;
    for (const auto& base : base_images(build)) {
        if (find_image(agent, base)) continue;
        if (carrier.carry_image(agent, base, progress)) continue;
        throw Error(fmt::format(
            "container {}: its build starts FROM {} ({}), which is neither in {} nor in this "
            "host's image store; make it on this host ('lcloud image bootstrap {}' for a "
            "Debian base, or 'lcloud image import FILE')",
            planned.spec.service, base, (build.context / build.dockerfile).string(),
            carrier.where(), base));
    }
}

// Builds each service's image that the file says to build, once per service; the step cache
// makes this nearly free when nothing changed.
void build_images(agent::AgentClient& agent, const std::vector<PlannedContainer>& plan,
                  ImageCarrier* carrier, const Progress& progress) {
    std::set<std::string> built;
    for (const auto& planned : plan) {
        if (!planned.build || !built.insert(planned.spec.service).second) continue;
        const auto& build = *planned.build;
        nlohmann::json params{{"context", build.context.string()},
                              {"containerfile", (build.context / build.dockerfile).string()},
                              {"tag", planned.spec.image},
                              {"build_args", build.args},
                              // As Compose builds: RUN reaches the network (apt-get, pip...).
                              {"network", true}};
        const auto run = [&](const nlohmann::json& params) -> std::string {
            progress(fmt::format("building {} for {}", planned.spec.image, planned.spec.service));
            // A step taken from the cache is not worth a line on every up.
            std::string held_step;
            const auto result =
                agent.call_streaming("image.build", params, [&](const nlohmann::json& message) {
                    if (message.value("stream", "") != "progress") return;
                    const std::string line = message.value("line", "");
                    if (line.rfind("STEP ", 0) == 0) {
                        held_step = line;
                        return;
                    }
                    if (line == "--> cached") {
                        held_step.clear();
                        return;
                    }
                    if (!held_step.empty()) progress("  " + std::exchange(held_step, ""));
                    progress("  " + line);
                });
            progress(fmt::format("built {}: {} steps, {} from the cache",
                                 result.at("reference").get<std::string>(),
                                 result.value("steps", 0), result.value("cache_hits", 0)));
            return result.value("id", "");
        };
        try {
            if (!carrier) {
                run(params);
                continue;
            }
            carry_base_images(agent, planned, *carrier, progress);
            carrier->build(agent, planned, params, run, progress);
        } catch (const agent::AgentError& error) {
            throw Error(
                fmt::format("building the image of {}: {}", planned.spec.service, error.what()));
        }
    }
}

// Waits until `dependency` meets `condition` for every container of that service.
void wait_for(agent::AgentClient& agent, const std::string& environment,
              const project::Dependency& dependency, const std::string& waiter,
              std::chrono::seconds timeout, const Progress& progress) {
    if (dependency.condition == project::DependencyCondition::started) return;
    const bool healthy = dependency.condition == project::DependencyCondition::healthy;
    const auto deadline = Clock::now() + timeout;
    // Said once, and only when there is something to wait for (not on a no-op up).
    bool said = false;
    bool agent_waits = true;
    for (;;) {
        bool all = true, any = false;
        for (const auto& status : environment_containers(agent, environment)) {
            if (status.spec.service != dependency.name) continue;
            any = true;
            if (healthy) {
                if (status.health == "unhealthy")
                    throw Error(fmt::format("{} is unhealthy, and {} waits for it to be healthy; "
                                            "see 'lcloud logs {}'",
                                            status.spec.id, waiter, dependency.name));
                all = all && status.state == "running" && status.health == "healthy";
            } else {
                if (status.state == "exited" && status.exit_code.value_or(1) != 0)
                    throw Error(fmt::format("{} exited with code {}, and {} waits for it to "
                                            "complete successfully",
                                            status.spec.id, status.exit_code.value_or(-1), waiter));
                all = all && status.state == "exited";
            }
        }
        if (any && all) return;
        if (!said)
            progress(fmt::format("waiting for {} to be {} (for {})", dependency.name,
                                 healthy ? "healthy" : "completed", waiter));
        said = true;
        const auto now = Clock::now();
        if (now > deadline)
            throw Error(fmt::format("{} did not become {} within {} s, and {} waits for it; see "
                                    "'lcloud ps' and 'lcloud logs {}'",
                                    dependency.name, healthy ? "healthy" : "completed",
                                    timeout.count(), waiter, dependency.name));
        // The agent answers at the service's next event; one from before lcloud-agent had
        // container.wait is asked again after a pause.
        if (agent_waits) {
            const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - now);
            try {
                agent.call("container.wait",
                           {{"environment", environment},
                            {"service", dependency.name},
                            {"condition", healthy ? "healthy" : "completed"},
                            {"timeout_ms", std::min<int64_t>(left.count() + 1, 1000)}});
                continue;
            } catch (const agent::AgentError& error) {
                if (error.kind() != "unknown_method") throw;
                agent_waits = false;
            }
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
}

} // namespace

std::vector<agent::ContainerStatus> environment_containers(agent::AgentClient& agent,
                                                           const std::string& environment) {
    return agent.call("container.list", {{"environment", environment}})
        .get<std::vector<agent::ContainerStatus>>();
}

UpResult up(agent::AgentClient& agent, const project::Project& project, const UpOptions& options,
            const Progress& progress) {
    const std::string environment = environment_name(project);
    const auto full_plan = plan_containers(project);
    const auto plan = select_services(full_plan, options.services);
    std::map<std::string, agent::ContainerStatus> existing;
    for (auto& status : environment_containers(agent, environment))
        existing[status.spec.id] = std::move(status);

    build_images(agent, plan, options.carrier, progress);
    // Hashes first: they need every image, and a missing one must stop us before anything moves.
    std::map<std::string, std::string> images;
    std::vector<agent::ContainerSpec> specs;
    for (const auto& planned : plan) {
        agent::ContainerSpec spec = planned.spec;
        spec.config_hash =
            config_hash(spec, image_id(agent, planned, images, options.carrier, progress));
        specs.push_back(std::move(spec));
    }
    if (options.images_ready) options.images_ready(existing.empty());
    // Host ports that something else holds, before anything starts.
    nlohmann::json wanted_ports = nlohmann::json::array();
    for (const auto& spec : specs) {
        // A running container's ports are held by the agent for it; a stopped one gave its back.
        if (const auto found = existing.find(spec.id);
            found != existing.end() &&
            (found->second.state == "running" || found->second.state == "restarting"))
            continue;
        for (const auto& port : spec.ports)
            if (port.host_port != 0)
                wanted_ports.push_back({{"protocol", port.protocol},
                                        {"host_ip", port.host_ip},
                                        {"host_port", port.host_port}});
    }
    if (!wanted_ports.empty()) {
        const auto taken = agent.call("ports.check", {{"ports", wanted_ports}}).at("unavailable");
        if (!taken.empty()) {
            std::string list;
            for (const auto& line : taken)
                list += (list.empty() ? "" : "; ") + line.get<std::string>();
            throw Error(fmt::format("{}: change the host port in {} or stop what holds it", list,
                                    project.file.filename().string()));
        }
    }

    UpResult result;
    for (size_t i = 0; i < plan.size(); ++i) {
        const auto& spec = specs[i];
        for (const auto& dependency : plan[i].depends_on)
            wait_for(agent, environment, dependency, spec.service, options.health_timeout,
                     progress);
        const auto found = existing.find(spec.id);
        if (found != existing.end() && found->second.spec.config_hash == spec.config_hash) {
            const auto& state = found->second.state;
            if (state == "running" || state == "restarting") {
                result.unchanged.push_back(spec.id);
                continue;
            }
            progress(fmt::format("starting {}", spec.id));
            agent.call("container.start", {{"id", spec.id}});
            result.started.push_back(spec.id);
            continue;
        }
        if (found != existing.end()) {
            progress(fmt::format("recreating {} (its configuration changed)", spec.id));
            agent.call("container.rm", {{"id", spec.id}});
            result.recreated.push_back(spec.id);
        } else {
            progress(fmt::format("creating {}", spec.id));
            result.created.push_back(spec.id);
        }
        agent.call("container.create", {{"spec", spec}});
    }
    if (options.services.empty()) {
        std::set<std::string> planned;
        for (const auto& spec : specs)
            planned.insert(spec.id);
        for (const auto& [id, status] : existing) {
            if (planned.count(id)) continue;
            progress(fmt::format("removing {}: it is no longer in {}", id,
                                 project.file.filename().string()));
            agent.call("container.rm", {{"id", id}});
            result.removed.push_back(id);
        }
    }
    result.containers = environment_containers(agent, environment);
    show_host_ports(project, result.containers);
    return result;
}

nlohmann::json destroy(agent::AgentClient& agent, const std::string& environment,
                       bool keep_network) {
    return agent.call("environment.destroy",
                      {{"environment", environment}, {"keep_network", keep_network}});
}

std::vector<std::string> halt(agent::AgentClient& agent, const std::string& environment) {
    return agent.call("environment.halt", {{"environment", environment}})
        .at("stopped")
        .get<std::vector<std::string>>();
}

} // namespace lcloud::engine

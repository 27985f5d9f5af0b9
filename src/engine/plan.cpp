#include "engine/plan.hpp"

#include "common/error.hpp"
#include "runtime/image/sha256.hpp"

#include <algorithm>
#include <cctype>
#include <fmt/format.h>
#include <functional>
#include <map>
#include <set>
#include <tuple>

namespace lcloud::engine {

namespace {

std::string sanitize(const std::string& text) {
    std::string out;
    for (char c : text) {
        const auto u = static_cast<unsigned char>(c);
        out += std::isalnum(u) ? static_cast<char>(std::tolower(u)) : '-';
    }
    return out.empty() ? "project" : out;
}

std::vector<std::string> health_test(const project::HealthCheck& check) {
    return check.test;
}

int64_t millis(Duration duration) {
    return std::chrono::duration_cast<std::chrono::milliseconds>(duration).count();
}

// With no VM, a shared folder's guest path is its host directory: a bind of it (or of what is
// under it) binds the host's, and a read-only folder stays read-only.
void local_shared_source(const project::Project& project, agent::MountSpec& mount) {
    for (const auto& folder : project.shared_folders) {
        const std::string& guest = folder.guest;
        if (mount.source != guest && mount.source.rfind(guest + "/", 0) != 0) continue;
        mount.source =
            (folder.host / mount.source.substr(std::min(mount.source.size(), guest.size() + 1)))
                .lexically_normal()
                .string();
        if (!mount.source.empty() && mount.source.size() > 1 && mount.source.back() == '/')
            mount.source.pop_back();
        mount.read_only = mount.read_only || folder.readonly;
        return;
    }
}

bool is_under(const std::string& path, std::string dir) {
    while (dir.size() > 1 && dir.back() == '/')
        dir.pop_back();
    if (path == dir) return true;
    return path.size() > dir.size() && path.compare(0, dir.size(), dir) == 0 &&
           (dir == "/" || path[dir.size()] == '/');
}

// In the VM, a shared folder is mounted at its guest path: a bind of its host directory (or
// of what is under it) binds the guest path, a bind of a guest path stays, and a host path no
// folder shares cannot be reached from the VM at all.
void vm_shared_source(const project::Project& project, const project::Container& container,
                      const project::VolumeMount& volume, agent::MountSpec& mount) {
    const std::string source = std::filesystem::path(mount.source).lexically_normal().string();
    for (const auto& folder : project.shared_folders)
        if (is_under(source, folder.guest)) {
            mount.read_only = mount.read_only || folder.readonly;
            return;
        }
    for (const auto& folder : project.shared_folders) {
        std::string host = folder.host.lexically_normal().string();
        while (host.size() > 1 && host.back() == '/')
            host.pop_back();
        if (!is_under(source, host)) continue;
        std::string guest = folder.guest;
        while (guest.size() > 1 && guest.back() == '/')
            guest.pop_back();
        mount.source = guest + source.substr(host.size());
        mount.read_only = mount.read_only || folder.readonly;
        return;
    }
    throw Error(fmt::format("{}:{}:{}: container {}: the bind mount of {} cannot reach the VM: "
                            "no shared folder holds it; add it (or a directory above it) to "
                            "shared_folders, or bind a shared folder's guest path",
                            project.file.filename().string(), volume.where.line,
                            volume.where.column, container.name, mount.source));
}

std::string forward_host_ip(const project::PortMapping& port) {
    return port.host_ip.empty() ? "127.0.0.1" : port.host_ip;
}

// The VM's port for a fixed host port: the one host_forwards chose.
uint16_t guest_port(const std::vector<HostForward>& forwards, const std::string& protocol,
                    const std::string& host_ip, uint16_t host_port) {
    for (const auto& forward : forwards)
        if (forward.protocol == protocol && forward.host_ip == host_ip &&
            forward.host_port == host_port)
            return forward.guest_port;
    return host_port;
}

agent::ContainerSpec make_spec(const project::Project& project, const std::string& env,
                               const project::Container& container, int replica,
                               const std::vector<HostForward>& forwards) {
    agent::ContainerSpec spec;
    spec.environment = env;
    spec.service = container.name;
    spec.replica = container.replicas > 1 ? replica : 0;
    spec.id = spec.replica ? fmt::format("{}.{}-{}", env, container.name, replica)
                           : fmt::format("{}.{}", env, container.name);
    spec.image = container.image;
    spec.entrypoint = container.entrypoint;
    spec.command = container.command;
    spec.env = container.environment;
    spec.working_dir = container.working_dir;
    spec.user = container.user;
    spec.hostname = container.hostname;
    spec.network = env;
    spec.aliases = {container.name};
    if (spec.replica) spec.aliases.push_back(fmt::format("{}-{}", container.name, replica));
    const bool in_vm = project.provider == project::Provider::libvirt;
    for (const auto& port : container.ports) {
        const std::string protocol = port.protocol == project::Protocol::udp ? "udp" : "tcp";
        const int count = port.container_end - port.container_start + 1;
        for (int i = 0; i < count; ++i) {
            auto host_port = static_cast<uint16_t>(port.host_start ? port.host_start + i : 0);
            if (in_vm && host_port)
                host_port = guest_port(forwards, protocol, forward_host_ip(port), host_port);
            // In the VM, on every address: the host's forwarder comes in on its own.
            spec.ports.push_back(agent::PortSpec{protocol, in_vm ? "0.0.0.0" : port.host_ip,
                                                 host_port,
                                                 static_cast<uint16_t>(port.container_start + i)});
        }
    }
    int anonymous = 0;
    for (const auto& volume : container.volumes) {
        agent::MountSpec mount;
        mount.target = volume.target;
        mount.read_only = volume.read_only;
        switch (volume.type) {
        case project::VolumeType::bind:
            mount.type = "bind";
            mount.source = volume.source;
            if (project.provider == project::Provider::local)
                local_shared_source(project, mount);
            else
                vm_shared_source(project, container, volume, mount);
            break;
        case project::VolumeType::volume:
            mount.type = "volume";
            // Named volumes belong to the environment, which destroy removes whole.
            mount.source =
                volume.source.empty()
                    ? fmt::format("{}_{}-anon{}", env,
                                  spec.replica ? fmt::format("{}-{}", container.name, replica)
                                               : container.name,
                                  ++anonymous)
                    : fmt::format("{}_{}", env, volume.source);
            break;
        case project::VolumeType::tmpfs:
            mount.type = "tmpfs";
            break;
        }
        spec.mounts.push_back(mount);
    }
    switch (container.restart.kind) {
    case project::RestartKind::no:
        spec.restart = "no";
        break;
    case project::RestartKind::always:
        spec.restart = "always";
        break;
    case project::RestartKind::on_failure:
        spec.restart = "on-failure";
        break;
    case project::RestartKind::unless_stopped:
        spec.restart = "unless-stopped";
        break;
    }
    spec.max_retries = container.restart.max_retries;
    if (container.healthcheck)
        spec.health = agent::HealthSpec{
            health_test(*container.healthcheck),    millis(container.healthcheck->interval),
            millis(container.healthcheck->timeout), millis(container.healthcheck->start_period),
            container.healthcheck->retries,         millis(container.healthcheck->start_interval)};
    spec.memory_bytes = container.memory_bytes;
    spec.cpus = container.cpus;
    spec.stop_grace_ms = millis(container.stop_grace_period);
    spec.labels = container.labels;
    (void)project;
    return spec;
}

} // namespace

std::string environment_name(const project::Project& project) {
    const std::string digest = runtime::image::sha256_digest(project.dir.string()).substr(7);
    return fmt::format("{}-{}", sanitize(project.name), digest.substr(0, 6));
}

std::vector<PlannedContainer> plan_containers(const project::Project& project) {
    const std::string env = environment_name(project);
    std::map<std::string, const project::Container*> by_name;
    for (const auto& container : project.containers)
        by_name[container.name] = &container;
    std::vector<const project::Container*> order;
    std::set<std::string> done, visiting;
    std::function<void(const project::Container&)> visit = [&](const project::Container& c) {
        if (done.count(c.name)) return;
        if (!visiting.insert(c.name).second)
            throw Error(fmt::format("containers depend on each other in a cycle through '{}'; "
                                    "remove one of the depends_on",
                                    c.name));
        for (const auto& dependency : c.depends_on)
            if (const auto found = by_name.find(dependency.name); found != by_name.end())
                visit(*found->second);
        visiting.erase(c.name);
        done.insert(c.name);
        order.push_back(&c);
    };
    for (const auto& container : project.containers)
        visit(container);
    const auto forwards = host_forwards(project);
    std::vector<PlannedContainer> plan;
    for (const auto* container : order)
        for (int replica = 1; replica <= std::max(1, container->replicas); ++replica)
            plan.push_back({make_spec(project, env, *container, replica, forwards),
                            container->depends_on, container->build});
    return plan;
}

std::vector<PlannedContainer> select_services(const std::vector<PlannedContainer>& plan,
                                              const std::vector<std::string>& services) {
    if (services.empty()) return plan;
    std::set<std::string> wanted;
    std::function<void(const std::string&)> add = [&](const std::string& name) {
        if (!wanted.insert(name).second) return;
        for (const auto& planned : plan)
            if (planned.spec.service == name)
                for (const auto& dependency : planned.depends_on)
                    add(dependency.name);
    };
    for (const auto& name : services) {
        const bool known = std::any_of(plan.begin(), plan.end(),
                                       [&](const auto& p) { return p.spec.service == name; });
        if (!known) throw UsageError(fmt::format("no container '{}' in the project", name));
        add(name);
    }
    std::vector<PlannedContainer> out;
    for (const auto& planned : plan)
        if (wanted.count(planned.spec.service)) out.push_back(planned);
    return out;
}

std::vector<HostForward> host_forwards(const project::Project& project) {
    std::vector<HostForward> out;
    if (project.provider != project::Provider::libvirt) return out;
    std::set<std::tuple<std::string, std::string, uint16_t>> seen;
    for (const auto& container : project.containers)
        for (const auto& port : container.ports) {
            if (port.host_start == 0) continue; // a port the agent picks: nothing fixed to forward
            const std::string protocol = port.protocol == project::Protocol::udp ? "udp" : "tcp";
            const int count = port.container_end - port.container_start + 1;
            const std::string host_ip = forward_host_ip(port);
            for (int i = 0; i < count; ++i) {
                const auto host_port = static_cast<uint16_t>(port.host_start + i);
                if (seen.emplace(protocol, host_ip, host_port).second)
                    out.push_back({protocol, host_ip, host_port, 0});
            }
        }
    // Each number keeps its own in the VM for the first address that has it; the others
    // get numbers no host port of the file has.
    std::set<std::pair<std::string, uint16_t>> taken;
    for (const auto& forward : out)
        taken.emplace(forward.protocol, forward.host_port);
    std::set<std::pair<std::string, uint16_t>> used;
    for (auto& forward : out) {
        if (used.emplace(forward.protocol, forward.host_port).second) {
            forward.guest_port = forward.host_port;
            continue;
        }
        // Above the kernel's ephemeral ports, which the agent picks from.
        uint16_t candidate = 61000;
        while (taken.count({forward.protocol, candidate}))
            ++candidate;
        taken.emplace(forward.protocol, candidate);
        forward.guest_port = candidate;
    }
    return out;
}

void show_host_ports(const project::Project& project,
                     std::vector<agent::ContainerStatus>& containers) {
    const auto forwards = host_forwards(project);
    if (forwards.empty()) return;
    for (auto& status : containers)
        for (auto& port : status.ports)
            for (const auto& forward : forwards)
                if (forward.protocol == port.protocol && forward.guest_port == port.host_port) {
                    port.host_ip = forward.host_ip;
                    port.host_port = forward.host_port;
                    break;
                }
}

std::string config_hash(const agent::ContainerSpec& spec, const std::string& image_id) {
    agent::ContainerSpec copy = spec;
    copy.config_hash.clear();
    return runtime::image::sha256_digest(nlohmann::json(copy).dump() + "\n" + image_id);
}

} // namespace lcloud::engine

#include "project/loader_internal.hpp"
#include "project/ports.hpp"

#include <fmt/format.h>
#include <functional>
#include <set>

namespace lcloud::project {

namespace {

std::vector<std::string_view> container_names(const Project& project) {
    std::vector<std::string_view> names;
    for (const auto& container : project.containers)
        names.push_back(container.name);
    return names;
}

void check_references(const Project& project, YamlReader& reader) {
    const auto names = container_names(project);
    for (const auto& container : project.containers) {
        std::set<std::string> seen;
        for (const auto& dependency : container.depends_on) {
            if (!seen.insert(dependency.name).second) {
                reader.error(dependency.where,
                             fmt::format("container '{}' lists '{}' twice in depends_on",
                                         container.name, dependency.name));
                continue;
            }
            if (dependency.name == container.name) {
                reader.error(dependency.where, fmt::format("container '{}' depends on itself; "
                                                           "remove it from its depends_on",
                                                           container.name));
                continue;
            }
            const Container* target = project.find_container(dependency.name);
            if (!target) {
                std::string message =
                    fmt::format("container '{}' depends on '{}', which is not a container of "
                                "this file",
                                container.name, dependency.name);
                if (const auto suggestion = closest_match(dependency.name, names))
                    message += fmt::format("; did you mean '{}'?", *suggestion);
                reader.error(dependency.where, std::move(message));
                continue;
            }
            if (dependency.condition == DependencyCondition::healthy && !target->healthcheck)
                reader.error(dependency.where,
                             fmt::format("container '{}' waits for '{}' to be healthy, but '{}' "
                                         "has no healthcheck; add one or use condition: started",
                                         container.name, dependency.name, dependency.name));
        }
    }
}

// Depth-first search; each cycle is reported once, at the dependency that closes it.
void check_cycles(const Project& project, YamlReader& reader) {
    enum class Mark { unvisited, in_progress, done };
    std::map<std::string, Mark> marks;
    std::vector<std::string> stack;
    std::function<void(const Container&)> visit = [&](const Container& container) {
        marks[container.name] = Mark::in_progress;
        stack.push_back(container.name);
        for (const auto& dependency : container.depends_on) {
            const Container* target = project.find_container(dependency.name);
            if (!target || target == &container) continue;
            const Mark mark = marks[target->name];
            if (mark == Mark::in_progress) {
                const auto start = std::find(stack.begin(), stack.end(), target->name);
                std::vector<std::string> cycle(start, stack.end());
                cycle.push_back(target->name);
                reader.error(dependency.where,
                             fmt::format("depends_on forms a cycle: {}; remove one of these "
                                         "dependencies",
                                         fmt::join(cycle, " -> ")));
            } else if (mark == Mark::unvisited) {
                visit(*target);
            }
        }
        stack.pop_back();
        marks[container.name] = Mark::done;
    };
    for (const auto& container : project.containers)
        if (marks[container.name] == Mark::unvisited) visit(container);
}

void check_host_ports(const Project& project, YamlReader& reader) {
    struct Claim {
        const Container* container;
        const PortMapping* mapping;
    };
    std::vector<Claim> claims;
    for (const auto& container : project.containers) {
        for (const auto& mapping : container.ports) {
            for (const auto& claim : claims) {
                if (!host_ports_overlap(mapping, *claim.mapping)) continue;
                const uint16_t port = std::max(mapping.host_start, claim.mapping->host_start);
                const std::string owner =
                    claim.container == &container
                        ? "this container"
                        : fmt::format("container '{}'", claim.container->name);
                reader.error(mapping.where,
                             fmt::format("host port {}/{} is already published by {} at line "
                                         "{}; pick another host port",
                                         port, to_string(mapping.protocol), owner,
                                         claim.mapping->where.line));
                break;
            }
            claims.push_back({&container, &mapping});
        }
    }
}

} // namespace

void validate_containers(const Project& project, YamlReader& reader) {
    check_references(project, reader);
    check_cycles(project, reader);
    check_host_ports(project, reader);
}

} // namespace lcloud::project

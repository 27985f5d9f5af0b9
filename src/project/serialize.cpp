#include "project/serialize.hpp"

#include "project/ports.hpp"

#include <fmt/format.h>
#include <yaml-cpp/yaml.h>

namespace lcloud::project {

using Json = nlohmann::ordered_json;

namespace {

Json to_json(const PortMapping& port) {
    Json json = {
        {"target", port.container_start == port.container_end
                       ? Json(port.container_start)
                       : Json(fmt::format("{}-{}", port.container_start, port.container_end))},
        {"host_ip", port.host_ip},
        {"protocol", to_string(port.protocol)}};
    if (port.host_start != 0)
        json["published"] = port.host_start == port.host_end
                                ? fmt::format("{}", port.host_start)
                                : fmt::format("{}-{}", port.host_start, port.host_end);
    return json;
}

Json to_json(const VolumeMount& mount) {
    Json json = {{"type", to_string(mount.type)}};
    if (!mount.source.empty()) json["source"] = mount.source;
    json["target"] = mount.target;
    json["read_only"] = mount.read_only;
    return json;
}

Json to_json(const Container& container) {
    Json json = {{"image", container.image}};
    if (container.build)
        json["build"] = {{"context", container.build->context.string()},
                         {"dockerfile", container.build->dockerfile},
                         {"args", container.build->args}};
    if (container.entrypoint) json["entrypoint"] = *container.entrypoint;
    if (container.command) json["command"] = *container.command;
    if (!container.working_dir.empty()) json["working_dir"] = container.working_dir;
    if (!container.user.empty()) json["user"] = container.user;
    json["hostname"] = container.hostname.empty() ? container.name : container.hostname;
    json["labels"] = container.labels;
    json["environment"] = container.environment;
    Json ports = Json::array(), volumes = Json::array();
    for (const auto& port : container.ports)
        ports.push_back(to_json(port));
    for (const auto& mount : container.volumes)
        volumes.push_back(to_json(mount));
    json["ports"] = ports;
    json["volumes"] = volumes;
    Json depends_on = Json::object();
    for (const auto& dependency : container.depends_on)
        depends_on[dependency.name] = {{"condition", to_string(dependency.condition)}};
    json["depends_on"] = depends_on;
    if (container.healthcheck)
        json["healthcheck"] = {
            {"test", container.healthcheck->test},
            {"interval", format_duration(container.healthcheck->interval)},
            {"timeout", format_duration(container.healthcheck->timeout)},
            {"retries", container.healthcheck->retries},
            {"start_period", format_duration(container.healthcheck->start_period)},
            {"start_interval", format_duration(container.healthcheck->start_interval)}};
    json["restart"] = to_string(container.restart);
    json["replicas"] = container.replicas;
    if (container.memory_bytes) json["memory"] = format_size(*container.memory_bytes);
    if (container.cpus) json["cpus"] = *container.cpus;
    json["stop_grace_period"] = format_duration(container.stop_grace_period);
    return json;
}

void emit(YAML::Emitter& out, const Json& value) {
    if (value.is_object()) {
        if (value.empty()) {
            out << YAML::Flow << YAML::BeginMap << YAML::EndMap;
            return;
        }
        out << YAML::BeginMap;
        for (const auto& [key, item] : value.items()) {
            out << YAML::Key << key << YAML::Value;
            emit(out, item);
        }
        out << YAML::EndMap;
    } else if (value.is_array()) {
        const bool scalars = std::all_of(value.begin(), value.end(),
                                         [](const Json& item) { return item.is_primitive(); });
        if (scalars) out << YAML::Flow;
        out << YAML::BeginSeq;
        for (const auto& item : value)
            emit(out, item);
        out << YAML::EndSeq;
    } else if (value.is_string()) {
        const auto& text = value.get_ref<const std::string&>();
        // Quote what YAML would otherwise read back as another type.
        const bool ambiguous = text.empty() || text == "no" || text == "yes" || text == "true" ||
                               text == "false" || text == "null" || text == "~" ||
                               text.find_first_not_of("0123456789.:-") == std::string::npos;
        if (ambiguous) out << YAML::DoubleQuoted;
        out << text;
    } else if (value.is_boolean()) {
        out << (value.get<bool>() ? "true" : "false");
    } else if (value.is_null()) {
        out << YAML::Null;
    } else {
        out << value.dump();
    }
}

} // namespace

Json to_json(const Project& project) {
    Json folders = Json::array();
    for (const auto& folder : project.shared_folders)
        folders.push_back({{"host", folder.host.string()},
                           {"guest", folder.guest},
                           {"readonly", folder.readonly},
                           {"allow_outside_project", folder.allow_outside_project}});
    Json containers = Json::object();
    for (const auto& container : project.containers)
        containers[container.name] = to_json(container);
    return {{"name", project.name},
            {"file", project.file.string()},
            {"provider", to_string(project.provider)},
            {"vm",
             {{"box", project.vm.box},
              {"cpus", project.vm.cpus},
              {"memory", format_size(project.vm.memory_bytes)},
              {"disk", format_size(project.vm.disk_bytes)},
              {"driver", to_string(project.vm.driver)},
              {"uri", project.vm.uri},
              {"boot_timeout", project.vm.boot_timeout.count() == 0
                                   ? "auto"
                                   : format_duration(project.vm.boot_timeout)}}},
            {"shared_folders", folders},
            {"containers", containers}};
}

std::string to_yaml(const Json& value) {
    YAML::Emitter out;
    emit(out, value);
    return std::string(out.c_str()) + "\n";
}

} // namespace lcloud::project

#include "agent/protocol/spec.hpp"

namespace lcloud::agent {

// Optional members need hand-written conversions: the macros know no std::optional.
namespace {

template <typename T>
void put_optional(nlohmann::json& json, const char* key, const std::optional<T>& value) {
    if (value) json[key] = *value;
}

template <typename T>
void get_optional(const nlohmann::json& json, const char* key, std::optional<T>& value) {
    const auto found = json.find(key);
    if (found == json.end() || found->is_null())
        value.reset();
    else
        value = found->get<T>();
}

template <typename T> void get(const nlohmann::json& json, const char* key, T& value) {
    const auto found = json.find(key);
    if (found != json.end() && !found->is_null()) found->get_to(value);
}

} // namespace

void to_json(nlohmann::json& json, const ContainerSpec& spec) {
    json = nlohmann::json{{"id", spec.id},
                          {"environment", spec.environment},
                          {"service", spec.service},
                          {"replica", spec.replica},
                          {"image", spec.image},
                          {"env", spec.env},
                          {"working_dir", spec.working_dir},
                          {"user", spec.user},
                          {"hostname", spec.hostname},
                          {"network", spec.network},
                          {"aliases", spec.aliases},
                          {"ports", spec.ports},
                          {"mounts", spec.mounts},
                          {"restart", spec.restart},
                          {"max_retries", spec.max_retries},
                          {"stop_grace_ms", spec.stop_grace_ms},
                          {"labels", spec.labels},
                          {"config_hash", spec.config_hash}};
    put_optional(json, "entrypoint", spec.entrypoint);
    put_optional(json, "command", spec.command);
    put_optional(json, "health", spec.health);
    put_optional(json, "memory_bytes", spec.memory_bytes);
    put_optional(json, "cpus", spec.cpus);
}

void from_json(const nlohmann::json& json, ContainerSpec& spec) {
    get(json, "id", spec.id);
    get(json, "environment", spec.environment);
    get(json, "service", spec.service);
    get(json, "replica", spec.replica);
    get(json, "image", spec.image);
    get(json, "env", spec.env);
    get(json, "working_dir", spec.working_dir);
    get(json, "user", spec.user);
    get(json, "hostname", spec.hostname);
    get(json, "network", spec.network);
    get(json, "aliases", spec.aliases);
    get(json, "ports", spec.ports);
    get(json, "mounts", spec.mounts);
    get(json, "restart", spec.restart);
    get(json, "max_retries", spec.max_retries);
    get(json, "stop_grace_ms", spec.stop_grace_ms);
    get(json, "labels", spec.labels);
    get(json, "config_hash", spec.config_hash);
    get_optional(json, "entrypoint", spec.entrypoint);
    get_optional(json, "command", spec.command);
    get_optional(json, "health", spec.health);
    get_optional(json, "memory_bytes", spec.memory_bytes);
    get_optional(json, "cpus", spec.cpus);
}

void to_json(nlohmann::json& json, const ContainerStatus& status) {
    json = nlohmann::json{{"spec", status.spec},
                          {"image_id", status.image_id},
                          {"state", status.state},
                          {"health", status.health},
                          {"pid", status.pid},
                          {"restarts", status.restarts},
                          {"address", status.address},
                          {"ports", status.ports},
                          {"started_at", status.started_at},
                          {"finished_at", status.finished_at}};
    put_optional(json, "exit_code", status.exit_code);
}

void from_json(const nlohmann::json& json, ContainerStatus& status) {
    get(json, "spec", status.spec);
    get(json, "image_id", status.image_id);
    get(json, "state", status.state);
    get(json, "health", status.health);
    get(json, "pid", status.pid);
    get(json, "restarts", status.restarts);
    get(json, "address", status.address);
    get(json, "ports", status.ports);
    get(json, "started_at", status.started_at);
    get(json, "finished_at", status.finished_at);
    get_optional(json, "exit_code", status.exit_code);
}

} // namespace lcloud::agent

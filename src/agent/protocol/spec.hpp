#pragma once

// What the engine asks the agent for: the containers, in terms the agent understands without
// the project file. Serialized as JSON in the agent protocol (see protocol.hpp).

#include <cstdint>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

namespace lcloud::agent {

struct PortSpec {
    std::string protocol = "tcp"; // tcp | udp
    std::string host_ip = "127.0.0.1";
    uint16_t host_port = 0; // 0: any free port, chosen by the agent
    uint16_t container_port = 0;
};

struct MountSpec {
    std::string type = "bind"; // bind | volume | tmpfs
    std::string source;        // host path for bind; volume name for volume
    std::string target;
    bool read_only = false;
};

struct HealthSpec {
    std::vector<std::string> test; // ["CMD", ...] | ["CMD-SHELL", "..."]
    int64_t interval_ms = 30000;
    int64_t timeout_ms = 30000;
    int64_t start_period_ms = 0;
    int retries = 3;
    // Docker's start_interval: checks this often while the container is still starting.
    int64_t start_interval_ms = 0;
};

struct ContainerSpec {
    std::string id;          // unique on the agent; also the runtime's container id
    std::string environment; // the project's environment; names its network and volumes
    std::string service;     // the container's name in the project
    int replica = 0;         // 1-based among replicas; 0 when the service has none
    std::string image;
    std::optional<std::vector<std::string>> entrypoint;
    std::optional<std::vector<std::string>> command;
    std::map<std::string, std::string> env;
    std::string working_dir;
    std::string user;
    std::string hostname;
    std::string network;              // empty: a network namespace with loopback only
    std::vector<std::string> aliases; // names other containers of the network resolve
    std::vector<PortSpec> ports;
    std::vector<MountSpec> mounts;
    std::string restart = "no"; // no | always | on-failure | unless-stopped
    int max_retries = 0;        // on-failure:N; 0 means no limit
    std::optional<HealthSpec> health;
    std::optional<uint64_t> memory_bytes;
    std::optional<double> cpus;
    int64_t stop_grace_ms = 10000;
    std::map<std::string, std::string> labels;
    std::string config_hash; // the engine's hash of everything above, to tell a change
};

// A container as the agent reports it.
struct ContainerStatus {
    ContainerSpec spec;
    std::string image_id;
    std::string state;  // created | running | restarting | exited | stopped
    std::string health; // "" (no check) | starting | healthy | unhealthy
    int pid = 0;
    std::optional<int> exit_code;
    int restarts = 0;
    std::string address;
    std::vector<PortSpec> ports; // as bound: host ports chosen
    std::string started_at;
    std::string finished_at;
};

NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE_WITH_DEFAULT(PortSpec, protocol, host_ip, host_port,
                                                container_port)
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE_WITH_DEFAULT(MountSpec, type, source, target, read_only)
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE_WITH_DEFAULT(HealthSpec, test, interval_ms, timeout_ms,
                                                start_period_ms, retries, start_interval_ms)

void to_json(nlohmann::json& json, const ContainerSpec& spec);
void from_json(const nlohmann::json& json, ContainerSpec& spec);
void to_json(nlohmann::json& json, const ContainerStatus& status);
void from_json(const nlohmann::json& json, ContainerStatus& status);

} // namespace lcloud::agent

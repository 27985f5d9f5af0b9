#pragma once

// The project, as the agent is to run it: one ContainerSpec per container (replicas apart), in
// the order depends_on allows.

#include "agent/protocol/spec.hpp"
#include "project/model.hpp"

#include <optional>
#include <string>
#include <vector>

namespace lcloud::engine {

// "<project name>-<6 hex digits of the project directory's hash>": two checkouts of one project
// never share containers, networks or volumes.
std::string environment_name(const project::Project& project);

struct PlannedContainer {
    agent::ContainerSpec spec;
    std::vector<project::Dependency> depends_on;
    // Set when the service builds its image: spec.image ("<project>/<service>:latest"
    // unless the file names one) is the tag the build gives.
    std::optional<project::BuildSpec> build;
};

// Specs without config_hash (which needs the image id; see finish_hash). Services in an order
// where each comes after what it depends on; throws Error naming a cycle.
std::vector<PlannedContainer> plan_containers(const project::Project& project);

// Only the named services and what they depend on, in plan order; throws Error naming an
// unknown service.
std::vector<PlannedContainer> select_services(const std::vector<PlannedContainer>& plan,
                                              const std::vector<std::string>& services);

// A port the host must forward into the VM (provider libvirt): the VM's agent binds guest_port
// on 0.0.0.0, and the host's forwarder relays host_ip:host_port to it. guest_port is host_port,
// unless an earlier forward has that number on another host address: in the VM there is one
// address, so such a forward gets a free number from 61000 up.
struct HostForward {
    std::string protocol; // tcp | udp
    std::string host_ip;  // 127.0.0.1 unless the file names one
    uint16_t host_port = 0;
    uint16_t guest_port = 0;
    bool operator==(const HostForward&) const = default;
};

// Every fixed published host port of the project, once each; empty for provider local (the
// agent binds on the host itself). Ports left to the agent (host port 0) are not in it.
std::vector<HostForward> host_forwards(const project::Project& project);

// The containers' ports as the host sees them: for provider libvirt, each port the VM binds
// on 0.0.0.0 shows the host address and port it is forwarded from.
void show_host_ports(const project::Project& project,
                     std::vector<agent::ContainerStatus>& containers);

// sha256 of the spec (without its hash) and the image id: a change of either means recreate.
std::string config_hash(const agent::ContainerSpec& spec, const std::string& image_id);

} // namespace lcloud::engine

#pragma once

// Container networks: one Linux bridge per environment network, a veth pair per container, IPv4
// addresses from a subnet that clashes with no route of the host, NAT out through nftables, and
// no traffic between two networks. The address plan is a JSON file changed under a flock, so two
// agents (or an agent and a test) never hand out the same subnet or address.

#include "common/error.hpp"

#include <cstdint>
#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <sys/types.h>
#include <vector>

namespace lcloud::runtime::network {

class NetworkError : public Error {
  public:
    using Error::Error;
};

struct Ipv4 {
    uint32_t value = 0; // host byte order
    std::string to_string() const;
    static Ipv4 parse(const std::string& text); // throws NetworkError naming the text
    auto operator<=>(const Ipv4&) const = default;
};

struct Subnet {
    Ipv4 base;
    int prefix = 24;
    std::string to_string() const; // "10.89.0.0/24"
    static Subnet parse(const std::string& text);
    Ipv4 gateway() const { return Ipv4{base.value + 1}; }
    bool contains(Ipv4 address) const;
    bool overlaps(const Subnet& other) const;
    uint64_t size() const { return uint64_t{1} << (32 - prefix); } // addresses, .0 included
    bool operator==(const Subnet&) const = default;
};

// One network as the plan records it.
struct NetworkInfo {
    std::string name;   // the environment's network name, e.g. "myproject-1a2b3c_default"
    std::string bridge; // the Linux bridge, "lcbr-" + 8 hex digits of a hash of the name
    Subnet subnet;
    std::map<std::string, Ipv4> addresses; // container id -> address
};

// What attach() made, for the caller's records.
struct Attachment {
    std::string host_interface; // "lcv" + 10 hex digits of a hash of network name + container id
    Ipv4 address;
    Ipv4 gateway;
    int prefix = 24;
};

struct PlanOptions {
    std::filesystem::path state_dir; // holds networks.json and networks.lock
    // Candidate subnets are carved as /24s from this range, in order; one that overlaps a route
    // or an address of the host, or another network of the plan, is skipped.
    Subnet pool = Subnet{Ipv4{(10u << 24) | (89u << 16)}, 16};
};

class Networks {
  public:
    explicit Networks(PlanOptions options);

    // Creates the network when it does not exist (subnet chosen and recorded, bridge made and
    // up with the gateway address, NAT and isolation rules in nftables), and repairs what is
    // missing of one that does (after a reboot or a killed agent). Idempotent.
    NetworkInfo ensure(const std::string& name);
    std::optional<NetworkInfo> find(const std::string& name) const;
    std::vector<NetworkInfo> list() const;

    // Gives the container an address of the network (the same one again when it has one) and
    // connects the network namespace of `pid` to the bridge: a veth pair whose inner end becomes
    // `eth0` with that address, up, with a default route through the gateway; `lo` up too.
    Attachment attach(const std::string& name, const std::string& container_id, pid_t pid);
    // Removes the container's veth (when present) and releases its address. Idempotent.
    void detach(const std::string& name, const std::string& container_id);

    // Deletes the bridge, its nftables rules and its plan entry. Idempotent.
    void remove(const std::string& name);

  private:
    PlanOptions options_;
};

} // namespace lcloud::runtime::network

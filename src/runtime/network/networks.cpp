#include "runtime/network/firewall.hpp"
#include "runtime/network/netlink.hpp"
#include "runtime/network/network.hpp"
#include "runtime/network/plan.hpp"

#include <cerrno>
#include <fcntl.h>
#include <fmt/format.h>
#include <sys/stat.h>

namespace lcloud::runtime::network {

namespace {

constexpr const char* container_interface = "eth0";

// As Docker does, 02:42 and the IPv4 address: a container that restarts comes back with the
// same address and the same MAC, so its neighbours' ARP caches stay right. A new MAC would leave
// them sending to the old one until their entries go stale, half a minute.
std::array<uint8_t, 6> mac_for(Ipv4 address) {
    return {0x02,
            0x42,
            static_cast<uint8_t>(address.value >> 24),
            static_cast<uint8_t>(address.value >> 16),
            static_cast<uint8_t>(address.value >> 8),
            static_cast<uint8_t>(address.value)};
}

void check_name(const std::string& name, const char* what) {
    if (name.empty())
        throw NetworkError(fmt::format("the {} is empty; pass a non-empty one", what));
}

// Runs `body`; a NetworkError from below (which names the interface and the netlink or nft
// error) gets `context` (which network, which container) in front.
template <typename Body> decltype(auto) in_context(const std::string& context, Body&& body) {
    try {
        return body();
    } catch (const NetworkError& error) {
        throw NetworkError(context + ": " + error.what());
    }
}

std::string network_context(const std::string& name) {
    return fmt::format("network \"{}\"", name);
}

std::string container_context(const std::string& name, const std::string& container_id) {
    return fmt::format("network \"{}\", container {}", name, container_id);
}

std::string plan_path(const PlanOptions& options) {
    return (options.state_dir / "networks.json").string();
}

// Makes the network's kernel side whole: bridge, gateway address, up, forwarding, nftables.
void build(const NetworkInfo& network) {
    Netlink host = Netlink::host();
    const auto bridge = host.find_link(network.bridge);
    if (bridge && bridge->kind != "bridge")
        throw NetworkError(fmt::format(
            "interface {} exists but is a {}, not a bridge; delete it (ip link del {}) and "
            "ensure the network again",
            network.bridge, bridge->kind.empty() ? "device" : bridge->kind, network.bridge));
    if (!bridge) host.add_bridge(network.bridge);
    host.add_address(network.bridge, network.subnet.gateway(), network.subnet.prefix);
    if (!bridge || !bridge->up) host.set_up(network.bridge);
    // A bridge made again has lost the host ends of the containers still running.
    const int bridge_index = bridge ? bridge->index : host.index_of(network.bridge);
    for (const auto& [container_id, address] : network.addresses) {
        const std::string veth = host_veth_name(network.name, container_id);
        const auto port = host.find_link(veth);
        if (port && port->master != bridge_index) host.set_master(veth, bridge_index);
        if (port && !port->up) host.set_up(veth);
    }
    enable_ipv4_forwarding();
    Nftables().install(network);
}

Fd open_network_namespace(pid_t pid, const std::string& container_id) {
    const std::string path = fmt::format("/proc/{}/ns/net", pid);
    Fd netns(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
    if (!netns && errno == ENOENT)
        throw NetworkError(fmt::format("process {} is gone ({} does not exist); attach a "
                                       "container while its process runs",
                                       pid, path));
    if (!netns) throw_errno("open the network namespace of container " + container_id + ":", path);
    struct stat theirs {
    }, ours{};
    if (::fstat(netns.get(), &theirs) != 0) throw_errno("fstat", path);
    if (::stat("/proc/thread-self/ns/net", &ours) != 0)
        throw_errno("stat", "/proc/thread-self/ns/net");
    // Configuring "eth0" and the default route there would rewire the host itself.
    if (theirs.st_dev == ours.st_dev && theirs.st_ino == ours.st_ino)
        throw NetworkError(fmt::format(
            "process {} shares the host's network namespace; a container on a network needs its "
            "own (a \"network\" entry in linux.namespaces)",
            pid));
    return netns;
}

} // namespace

Networks::Networks(PlanOptions options) : options_(std::move(options)) {
    const Subnet& pool = options_.pool;
    const bool valid_prefix = pool.prefix >= 0 && pool.prefix <= 30;
    if (!valid_prefix || (pool.base.value & (~uint32_t{0} >> pool.prefix)) != 0)
        throw NetworkError(fmt::format("address pool {} is not a subnet of /30 or wider with no "
                                       "host bits set (like 10.89.0.0/16)",
                                       pool.to_string()));
    if (options_.state_dir.empty())
        throw NetworkError("the network state directory is empty; give the directory that "
                           "holds networks.json");
}

NetworkInfo Networks::ensure(const std::string& name) {
    check_name(name, "network name");
    PlanLock lock(options_.state_dir, PlanLock::Mode::exclusive);
    Plan plan = read_plan(options_.state_dir);
    auto entry = plan.networks.find(name);
    if (entry == plan.networks.end()) {
        NetworkInfo network{name, bridge_name(name), {}, {}};
        std::vector<Subnet> taken =
            in_context(network_context(name), [] { return Netlink::host().ipv4_in_use(); });
        for (const auto& [other_name, other] : plan.networks) {
            taken.push_back(other.subnet);
            if (other.bridge == network.bridge)
                throw NetworkError(fmt::format(
                    "networks \"{}\" and \"{}\" would both use bridge {} (their names hash "
                    "alike); rename one of them",
                    name, other_name, network.bridge));
        }
        const auto subnet = choose_subnet(options_.pool, taken);
        if (!subnet)
            throw NetworkError(fmt::format(
                "no free subnet left in pool {} for network \"{}\": every /24 of it overlaps a "
                "route or an address of the host, or another network of {}; remove networks "
                "no longer used (or the host routes and addresses in that range), or configure "
                "another pool",
                options_.pool.to_string(), name, plan_path(options_)));
        network.subnet = *subnet;
        entry = plan.networks.emplace(name, std::move(network)).first;
        write_plan(options_.state_dir, plan);
    }
    in_context(network_context(name), [&] { build(entry->second); });
    return entry->second;
}

std::optional<NetworkInfo> Networks::find(const std::string& name) const {
    PlanLock lock(options_.state_dir, PlanLock::Mode::shared);
    if (!lock.held()) return std::nullopt;
    Plan plan = read_plan(options_.state_dir);
    const auto entry = plan.networks.find(name);
    if (entry == plan.networks.end()) return std::nullopt;
    return entry->second;
}

std::vector<NetworkInfo> Networks::list() const {
    PlanLock lock(options_.state_dir, PlanLock::Mode::shared);
    std::vector<NetworkInfo> networks;
    if (!lock.held()) return networks;
    for (auto& [name, network] : read_plan(options_.state_dir).networks)
        networks.push_back(std::move(network));
    return networks;
}

Attachment Networks::attach(const std::string& name, const std::string& container_id, pid_t pid) {
    check_name(name, "network name");
    check_name(container_id, "container id");
    if (pid <= 0)
        throw NetworkError(
            fmt::format("pid {} of container {} is not a process id", pid, container_id));
    PlanLock lock(options_.state_dir, PlanLock::Mode::exclusive);
    Plan plan = read_plan(options_.state_dir);
    const auto entry = plan.networks.find(name);
    if (entry == plan.networks.end())
        throw NetworkError(fmt::format(
            "cannot attach container {}: network \"{}\" is not in {}; ensure the network first",
            container_id, name, plan_path(options_)));
    NetworkInfo& network = entry->second;
    Netlink host = in_context(network_context(name), [] { return Netlink::host(); });
    const auto bridge =
        in_context(network_context(name), [&] { return host.find_link(network.bridge); });
    if (!bridge)
        throw NetworkError(fmt::format(
            "cannot attach container {}: bridge {} of network \"{}\" is missing (deleted, or "
            "the host restarted); ensure the network to rebuild it",
            container_id, network.bridge, name));

    bool fresh = false;
    auto held = network.addresses.find(container_id);
    if (held == network.addresses.end()) {
        const auto address = choose_address(network);
        if (!address)
            throw NetworkError(fmt::format(
                "network \"{}\" ({}) has no free address left for container {}: all {} are "
                "held in {}; detach containers that are gone",
                name, network.subnet.to_string(), container_id, network.addresses.size(),
                plan_path(options_)));
        held = network.addresses.emplace(container_id, *address).first;
        write_plan(options_.state_dir, plan);
        fresh = true;
    }
    const Attachment attachment{host_veth_name(name, container_id), held->second,
                                network.subnet.gateway(), network.subnet.prefix};

    try {
        in_context(container_context(name, container_id), [&] {
            const Fd netns = open_network_namespace(pid, container_id);
            // A killed run may have left the pair; its end in a dead namespace is gone already.
            host.delete_link(attachment.host_interface);
            host.add_veth(attachment.host_interface, bridge->index, container_interface,
                          netns.get(), mac_for(attachment.address));
            Netlink inside = Netlink::in_namespace(
                netns.get(),
                fmt::format("the network namespace of pid {} (container {})", pid, container_id));
            inside.set_up("lo");
            inside.add_address(container_interface, attachment.address, attachment.prefix);
            inside.set_up(container_interface);
            inside.set_default_route(container_interface, attachment.gateway);
        });
    } catch (...) {
        try {
            host.delete_link(attachment.host_interface);
            if (fresh) {
                network.addresses.erase(container_id);
                write_plan(options_.state_dir, plan);
            }
        } catch (const Error&) {
            // The first error is the one worth reporting; detach cleans up the rest.
        }
        throw;
    }
    return attachment;
}

void Networks::detach(const std::string& name, const std::string& container_id) {
    check_name(name, "network name");
    check_name(container_id, "container id");
    PlanLock lock(options_.state_dir, PlanLock::Mode::exclusive);
    Plan plan = read_plan(options_.state_dir);
    in_context(container_context(name, container_id),
               [&] { Netlink::host().delete_link(host_veth_name(name, container_id)); });
    const auto entry = plan.networks.find(name);
    if (entry != plan.networks.end() && entry->second.addresses.erase(container_id) > 0)
        write_plan(options_.state_dir, plan);
}

void Networks::remove(const std::string& name) {
    check_name(name, "network name");
    PlanLock lock(options_.state_dir, PlanLock::Mode::exclusive);
    Plan plan = read_plan(options_.state_dir);
    const auto entry = plan.networks.find(name);
    const std::string bridge = bridge_name(name);
    in_context(network_context(name), [&] {
        Netlink host = Netlink::host();
        if (entry != plan.networks.end())
            for (const auto& [container_id, address] : entry->second.addresses)
                host.delete_link(host_veth_name(name, container_id));
        host.delete_link(bridge);
        Nftables().uninstall(bridge);
    });
    // Last, so that a failure above leaves the entry for the next attempt to find.
    if (entry != plan.networks.end()) {
        plan.networks.erase(entry);
        write_plan(options_.state_dir, plan);
    }
    in_context(network_context(name), [] { Nftables().remove_table_if_empty(); });
}

} // namespace lcloud::runtime::network

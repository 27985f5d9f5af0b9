#include "providers/libvirt/guest_network.hpp"

#include "providers/libvirt/errors.hpp"
#include "providers/libvirt/handles.hpp"
#include "providers/libvirt/xml.hpp"
#include "runtime/image/sha256.hpp"

#include <arpa/inet.h>
#include <filesystem>
#include <fmt/format.h>
#include <fstream>
#include <optional>
#include <set>
#include <sstream>

namespace lcloud::providers::libvirt {

namespace {

NetworkHandle open_network(virConnectPtr connection, const std::string& name) {
    NetworkHandle network(virNetworkLookupByName(connection, name.c_str()));
    if (!network)
        throw LibvirtError(
            fmt::format("libvirt has no network '{}'; 'lcloud up' defines it again", name));
    return network;
}

std::string network_xml(virNetworkPtr network, const std::string& name) {
    OwnedString xml(virNetworkGetXMLDesc(network, 0));
    if (!xml) throw_libvirt(fmt::format("reading the network {}", name));
    return xml.get();
}

uint32_t parse_ipv4(const std::string& text) {
    in_addr address{};
    if (::inet_pton(AF_INET, text.c_str(), &address) != 1)
        throw LibvirtError(fmt::format("'{}' is not an IPv4 address", text));
    return ntohl(address.s_addr);
}

std::string format_ipv4(uint32_t value) {
    return fmt::format("{}.{}.{}.{}", value >> 24, (value >> 16) & 255, (value >> 8) & 255,
                       value & 255);
}

std::set<std::string> leased_addresses(virNetworkPtr network) {
    std::set<std::string> addresses;
    virNetworkDHCPLeasePtr* leases = nullptr;
    const int count = virNetworkGetDHCPLeases(network, nullptr, &leases, 0);
    for (int i = 0; i < count; ++i) {
        if (leases[i]->ipaddr) addresses.insert(leases[i]->ipaddr);
        virNetworkDHCPLeaseFree(leases[i]);
    }
    ::free(leases);
    return addresses;
}

void update_hosts(virNetworkPtr network, unsigned command, const std::string& entry,
                  const std::string& what) {
    unsigned flags = VIR_NETWORK_UPDATE_AFFECT_CONFIG;
    if (virNetworkIsActive(network) == 1) flags |= VIR_NETWORK_UPDATE_AFFECT_LIVE;
    if (virNetworkUpdate(network, command, VIR_NETWORK_SECTION_IP_DHCP_HOST, -1, entry.c_str(),
                         flags) != 0)
        throw_libvirt(what);
}

} // namespace

namespace {

// The /24s in use on this host: its routes, and every libvirt network's address.
std::set<uint32_t> used_subnets(virConnectPtr connection) {
    std::set<uint32_t> used;
    std::ifstream routes("/proc/net/route");
    std::string line;
    std::getline(routes, line); // the header
    while (std::getline(routes, line)) {
        std::istringstream fields(line);
        std::string device, destination, gateway;
        fields >> device >> destination >> gateway;
        const uint32_t value = ntohl(static_cast<uint32_t>(std::stoul(destination, nullptr, 16)));
        if (value != 0) used.insert(value & 0xffffff00u);
    }
    virNetworkPtr* networks = nullptr;
    const int count = virConnectListAllNetworks(connection, &networks, 0);
    for (int i = 0; i < count; ++i) {
        NetworkHandle network(networks[i]);
        OwnedString xml(virNetworkGetXMLDesc(network.get(), 0));
        if (!xml) continue;
        for (const auto& address : xml_select(xml.get(), "/network/ip/@address", "a network"))
            if (address.find(':') == std::string::npos)
                used.insert(parse_ipv4(address) & 0xffffff00u);
    }
    ::free(networks);
    return used;
}

} // namespace

runtime::image::FileLock lock_network() {
    const std::filesystem::path dir = "/var/lib/lcloud";
    std::filesystem::create_directories(dir);
    return runtime::image::FileLock(dir / "network.lock",
                                    runtime::image::FileLock::Mode::exclusive);
}

void ensure_network(virConnectPtr connection) {
    NetworkHandle network(virNetworkLookupByName(connection, network_name));
    if (!network) {
        const auto used = used_subnets(connection);
        std::optional<uint32_t> subnet;
        for (uint32_t third = 123; third < 200 && !subnet; ++third) {
            const uint32_t candidate = (192u << 24) | (168u << 16) | (third << 8);
            if (!used.count(candidate)) subnet = candidate;
        }
        if (!subnet)
            throw LibvirtError("no free 192.168.123-199.0/24 for lcloud's libvirt network; every "
                               "one is routed on this host already");
        const auto xml = fmt::format(
            "<network><name>{}</name><forward mode='nat'/>"
            "<bridge name='virbr-lcloud' stp='off' delay='0'/>"
            "<ip address='{}' netmask='255.255.255.0'><dhcp><range start='{}' end='{}'/></dhcp>"
            "</ip></network>",
            network_name, format_ipv4(*subnet + 1), format_ipv4(*subnet + 2),
            format_ipv4(*subnet + 127));
        network.reset(virNetworkDefineXML(connection, xml.c_str()));
        if (!network) throw_libvirt(fmt::format("defining the libvirt network {}", network_name));
    }
    if (virNetworkIsActive(network.get()) == 1) return;
    if (virNetworkCreate(network.get()) != 0) {
        auto why = last_libvirt_error();
        if (virNetworkIsActive(network.get()) == 1) return;
        // Debian's libvirt only recommends it, so an install without recommends lacks it.
        if (why.find("dnsmasq") != std::string::npos)
            why += "; libvirt's networks need dnsmasq: apt-get install dnsmasq-base";
        throw_libvirt(fmt::format("starting the libvirt network {}", network_name), why);
    }
    virNetworkSetAutostart(network.get(), 1);
}

bool network_used_by_others(virConnectPtr connection, const std::string& leaving) {
    virDomainPtr* domains = nullptr;
    const int count = virConnectListAllDomains(connection, &domains, 0);
    bool used = count < 0;
    for (int i = 0; i < count; ++i) {
        DomainHandle domain(domains[i]);
        if (virDomainGetName(domain.get()) == leaving) continue;
        OwnedString xml(virDomainGetXMLDesc(domain.get(), VIR_DOMAIN_XML_INACTIVE));
        if (xml && !xml_select(xml.get(),
                               fmt::format("/domain/devices/interface/source[@network='{}']",
                                           network_name),
                               "a domain")
                        .empty())
            used = true;
    }
    ::free(domains);
    return used;
}

bool remove_network_if_unused(virConnectPtr connection, const std::string& leaving) {
    NetworkHandle network(virNetworkLookupByName(connection, network_name));
    if (!network || network_used_by_others(connection, leaving)) return false;
    if (virNetworkIsActive(network.get()) == 1 && virNetworkDestroy(network.get()) != 0)
        throw_libvirt(fmt::format("stopping the libvirt network {}", network_name));
    if (virNetworkUndefine(network.get()) != 0)
        throw_libvirt(fmt::format("removing the libvirt network {}", network_name));
    return true;
}

std::string mac_for(const std::string& seed) {
    const auto digest = runtime::image::sha256_digest(seed); // "sha256:hex"
    return fmt::format("52:54:00:{}:{}:{}", digest.substr(7, 2), digest.substr(9, 2),
                       digest.substr(11, 2));
}

GuestAddress reserve_address(virConnectPtr connection, const std::string& name,
                             const std::string& mac, const std::string& host_name) {
    auto network = open_network(connection, name);
    const auto xml = network_xml(network.get(), name);
    const auto what = "the network " + name;
    const auto gateways =
        xml_select(xml, "/network/ip[not(@family) or @family='ipv4']/@address", what);
    if (gateways.empty())
        throw LibvirtError(fmt::format("the libvirt network {} has no IPv4 address", name));
    GuestAddress address;
    address.network = name;
    address.mac = mac;
    address.gateway = gateways.front();
    const auto prefixes = xml_select(xml, "/network/ip[1]/@prefix", what);
    const auto netmasks = xml_select(xml, "/network/ip[1]/@netmask", what);
    if (!prefixes.empty())
        address.prefix = std::stoi(prefixes.front());
    else if (!netmasks.empty())
        address.prefix = __builtin_popcount(parse_ipv4(netmasks.front()));

    const auto hosts_macs = xml_select(xml, "/network/ip/dhcp/host/@mac", what);
    const auto hosts_ips = xml_select(xml, "/network/ip/dhcp/host/@ip", what);
    for (size_t i = 0; i < hosts_macs.size() && i < hosts_ips.size(); ++i)
        if (hosts_macs[i] == mac) {
            address.ip = fmt::format("{}/{}", hosts_ips[i], address.prefix);
            return address;
        }
    std::set<std::string> taken(hosts_ips.begin(), hosts_ips.end());
    taken.merge(leased_addresses(network.get()));
    taken.insert(address.gateway);

    const uint32_t gateway = parse_ipv4(address.gateway);
    const uint32_t mask = address.prefix == 0 ? 0 : ~uint32_t{0} << (32 - address.prefix);
    const uint32_t base = gateway & mask;
    const uint32_t size = ~mask + 1;
    if (size < 8) throw LibvirtError(fmt::format("the network {} is too small", name));
    // The upper half, away from where dnsmasq hands out leases first.
    const uint32_t first = size / 2;
    const uint32_t span = size / 2 - 1;
    const auto digest = runtime::image::sha256_digest(mac);
    const uint32_t start =
        static_cast<uint32_t>(std::stoul(digest.substr(7, 8), nullptr, 16)) % span;
    for (uint32_t i = 0; i < span; ++i) {
        const auto candidate = format_ipv4(base + first + (start + i) % span);
        if (taken.count(candidate)) continue;
        update_hosts(
            network.get(), VIR_NETWORK_UPDATE_COMMAND_ADD_LAST,
            fmt::format("<host mac='{}' name='{}' ip='{}'/>", mac, xml_escape(host_name),
                        candidate),
            fmt::format("reserving {} for {} in the network {}", candidate, host_name, name));
        address.ip = fmt::format("{}/{}", candidate, address.prefix);
        return address;
    }
    throw LibvirtError(fmt::format("the network {} has no free address left", name));
}

void release_address(virConnectPtr connection, const std::string& name, const std::string& mac) {
    NetworkHandle network(virNetworkLookupByName(connection, name.c_str()));
    if (!network) return;
    const auto xml = network_xml(network.get(), name);
    const auto macs = xml_select(xml, "/network/ip/dhcp/host/@mac", name);
    const auto ips = xml_select(xml, "/network/ip/dhcp/host/@ip", name);
    for (size_t i = 0; i < macs.size() && i < ips.size(); ++i)
        if (macs[i] == mac)
            update_hosts(
                network.get(), VIR_NETWORK_UPDATE_COMMAND_DELETE,
                fmt::format("<host mac='{}' ip='{}'/>", mac, ips[i]),
                fmt::format("removing the reservation of {} from the network {}", mac, name));
}

std::string describe_lease(virConnectPtr connection, const std::string& name,
                           const std::string& mac) {
    NetworkHandle network(virNetworkLookupByName(connection, name.c_str()));
    if (!network) return fmt::format("the network {} does not exist", name);
    if (virNetworkIsActive(network.get()) != 1)
        return fmt::format("the network {} is inactive", name);
    std::string text;
    virNetworkDHCPLeasePtr* leases = nullptr;
    const int count = virNetworkGetDHCPLeases(network.get(), mac.c_str(), &leases, 0);
    for (int i = 0; i < count; ++i) {
        text += fmt::format("lease {} for {}; ", leases[i]->ipaddr ? leases[i]->ipaddr : "?", mac);
        virNetworkDHCPLeaseFree(leases[i]);
    }
    ::free(leases);
    const auto xml = network_xml(network.get(), name);
    const auto ips =
        xml_select(xml, fmt::format("/network/ip/dhcp/host[@mac='{}']/@ip", mac), name);
    text += ips.empty() ? fmt::format("no reservation for {} in the network {}", mac, name)
                        : fmt::format("{} reserved for {} in the network {} (the guest sets it "
                                      "itself; no DHCP lease is expected)",
                                      ips.front(), mac, name);
    return text;
}

} // namespace lcloud::providers::libvirt

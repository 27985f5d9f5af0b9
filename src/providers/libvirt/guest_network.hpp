#pragma once

// The guest's place on libvirt's NAT network `default`. Its address is chosen before boot and
// reserved in the network's DHCP host table (so dnsmasq never leases it to another guest), then
// handed to the guest's init on the kernel command line: no DHCP wait at boot.

#include <libvirt/libvirt.h>
#include <string>

namespace lcloud::providers::libvirt {

struct GuestAddress {
    std::string network = "default";
    std::string mac;
    std::string ip;
    int prefix = 24;
    std::string gateway;
};

// The network, started (and set to autostart) when it is inactive.
void ensure_network_active(virConnectPtr connection, const std::string& network);

// A free address (not the gateway, not reserved, not leased), derived from `seed` so that a
// machine tends to get the same one back, and its reservation under `host_name`. Reuses the
// reservation already held by `mac`.
GuestAddress reserve_address(virConnectPtr connection, const std::string& network,
                             const std::string& mac, const std::string& host_name);

// Removes the reservation of `mac`; nothing when there is none or the network is gone.
void release_address(virConnectPtr connection, const std::string& network, const std::string& mac);

// "52:54:00:xx:xx:xx" from a hash of `seed` (QEMU's locally administered prefix).
std::string mac_for(const std::string& seed);

// The network's DHCP lease or reservation for `mac`, as one line for a diagnosis.
std::string describe_lease(virConnectPtr connection, const std::string& network,
                           const std::string& mac);

} // namespace lcloud::providers::libvirt

#pragma once

// The guest's place on a libvirt NAT network: lcloud's own, `lcloud`, like `default` but with STP
// off on its bridge. With STP on, a VM's port forwards nothing for 4 s after QEMU starts (the
// kernel's minimum forward delay), which a resumed VM pays in full. Its address is chosen before
// boot and reserved in the network's DHCP host table (so dnsmasq never leases it to another guest),
// then handed to the guest's init on the kernel command line: no DHCP wait at boot.

#include "runtime/image/file_lock.hpp"

#include <libvirt/libvirt.h>
#include <string>

namespace lcloud::providers::libvirt {

inline constexpr const char* network_name = "lcloud";

struct GuestAddress {
    std::string network = network_name;
    std::string mac;
    std::string ip;
    int prefix = 24;
    std::string gateway;
};

// Held from ensure_network until the new domain is defined (and so uses the network), and by
// remove_network_if_unused: otherwise the last VM's destroy in one project can take the network
// away from under an up in another. Host-wide: /var/lib/lcloud/network.lock.
runtime::image::FileLock lock_network();

// lcloud's network, defined when missing (NAT, STP off, a /24 that no route or other libvirt
// network uses), started (and set to autostart) when inactive.
void ensure_network(virConnectPtr connection);

// Removes lcloud's network when no lcloud domain is left to use it (but `leaving`, a domain
// on its way out); true when it did.
bool remove_network_if_unused(virConnectPtr connection, const std::string& leaving = {});

// Whether a domain other than `leaving` uses lcloud's network.
bool network_used_by_others(virConnectPtr connection, const std::string& leaving);

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

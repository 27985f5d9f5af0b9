#pragma once

// rtnetlink through libnl-route: the links, addresses and routes the networks are made of. Each
// libnl object is owned by an RAII handle; each failure names the interface and nl_geterror().

#include "common/fd.hpp"
#include "runtime/network/network.hpp"

#include <array>
#include <memory>
#include <optional>
#include <string>
#include <vector>

struct nl_sock;

namespace lcloud::runtime::network {

class Netlink {
  public:
    // A NETLINK_ROUTE socket of the calling thread's network namespace.
    static Netlink host();
    // A socket of the network namespace `netns_fd` refers to; the calling thread visits it only
    // while the socket is made and is back in its own namespace on return, error or not.
    static Netlink in_namespace(int netns_fd, const std::string& description);

    // "the host" or "the network namespace of ...": for messages.
    const std::string& where() const { return where_; }

    struct LinkState {
        int index = 0;
        bool up = false;
        std::string kind; // "bridge", "veth", ... ("" for a plain device)
        int master = 0;   // index of the bridge it is enslaved to, 0 for none
    };
    std::optional<LinkState> find_link(const std::string& name);
    // Throws NetworkError when the link does not exist.
    int index_of(const std::string& name);
    void add_bridge(const std::string& name);
    // Host end `host_name` enslaved to `master_index` and up; the peer is made directly in the
    // namespace `peer_netns_fd` as `peer_name` with the hardware address `peer_mac`, so it never
    // clashes with a host interface.
    void add_veth(const std::string& host_name, int master_index, const std::string& peer_name,
                  int peer_netns_fd, const std::array<uint8_t, 6>& peer_mac);
    void set_up(const std::string& name);
    void set_master(const std::string& name, int master_index);
    // No error when the link is already gone.
    void delete_link(const std::string& name);
    // No error when the interface already has it.
    void add_address(const std::string& link, Ipv4 address, int prefix);
    // Adds or replaces the default route of the main table.
    void set_default_route(const std::string& link, Ipv4 gateway);

    // Every IPv4 subnet the host uses: destinations of the main table's routes (but the default
    // route) and the subnets of the addresses of all interfaces.
    std::vector<Subnet> ipv4_in_use();

  private:
    struct SocketFree {
        void operator()(nl_sock* socket) const;
    };
    Netlink(std::unique_ptr<nl_sock, SocketFree> socket, std::string where);

    std::unique_ptr<nl_sock, SocketFree> socket_;
    std::string where_;
};

// Writes 1 to /proc/sys/net/ipv4/ip_forward unless it is 1 already.
void enable_ipv4_forwarding();

} // namespace lcloud::runtime::network

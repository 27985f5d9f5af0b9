#include "runtime/network/netlink.hpp"

#include <arpa/inet.h>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fcntl.h>
#include <fmt/format.h>
#include <linux/rtnetlink.h>
#include <net/if.h>
#include <netlink/netlink.h>
#include <netlink/route/addr.h>
#include <netlink/route/link.h>
#include <netlink/route/link/veth.h>
#include <netlink/route/route.h>
#include <sched.h>
#include <unistd.h>

namespace lcloud::runtime::network {

namespace {

template <typename T, auto Free> struct Deleter {
    void operator()(T* object) const {
        if (object) Free(object);
    }
};
using LinkPtr = std::unique_ptr<rtnl_link, Deleter<rtnl_link, rtnl_link_put>>;
using CachePtr = std::unique_ptr<nl_cache, Deleter<nl_cache, nl_cache_free>>;
using AddrPtr = std::unique_ptr<rtnl_addr, Deleter<rtnl_addr, rtnl_addr_put>>;
using RoutePtr = std::unique_ptr<rtnl_route, Deleter<rtnl_route, rtnl_route_put>>;
using NexthopPtr = std::unique_ptr<rtnl_nexthop, Deleter<rtnl_nexthop, rtnl_route_nh_free>>;
using NlAddrPtr = std::unique_ptr<nl_addr, Deleter<nl_addr, nl_addr_put>>;

bool is_missing(int error) {
    return error == -NLE_NODEV || error == -NLE_OBJ_NOTFOUND;
}

uint32_t mask_of(int prefix) {
    return prefix == 0 ? 0 : ~uint32_t{0} << (32 - prefix);
}

NlAddrPtr ipv4_nl_addr(Ipv4 address, int prefix) {
    const uint32_t network_order = htonl(address.value);
    NlAddrPtr result(nl_addr_build(AF_INET, &network_order, sizeof network_order));
    if (!result) throw NetworkError("out of memory building a netlink address");
    nl_addr_set_prefixlen(result.get(), prefix);
    return result;
}

std::optional<Ipv4> ipv4_of(nl_addr* address) {
    if (!address || nl_addr_get_family(address) != AF_INET ||
        nl_addr_get_len(address) != sizeof(uint32_t))
        return std::nullopt;
    uint32_t network_order;
    std::memcpy(&network_order, nl_addr_get_binary_addr(address), sizeof network_order);
    return Ipv4{ntohl(network_order)};
}

// Puts the calling thread into another network namespace until destroyed. Network namespaces
// are per thread, so other threads of the process are untouched.
class NamespaceVisit {
  public:
    NamespaceVisit(int target, const std::string& description) {
        original_ = Fd(::open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC));
        if (!original_) throw_errno("open", "/proc/thread-self/ns/net");
        if (::setns(target, CLONE_NEWNET) != 0) throw_errno("setns into", description);
    }
    NamespaceVisit(const NamespaceVisit&) = delete;
    NamespaceVisit& operator=(const NamespaceVisit&) = delete;
    ~NamespaceVisit() {
        // A thread left in a container's namespace would configure the wrong network from
        // then on: nothing sane can follow.
        if (::setns(original_.get(), CLONE_NEWNET) != 0) {
            std::perror("lcloud: setns back to the original network namespace");
            std::abort();
        }
    }

  private:
    Fd original_;
};

} // namespace

void Netlink::SocketFree::operator()(nl_sock* socket) const {
    nl_socket_free(socket);
}

Netlink::Netlink(std::unique_ptr<nl_sock, SocketFree> socket, std::string where)
    : socket_(std::move(socket)), where_(std::move(where)) {}

Netlink Netlink::host() {
    std::unique_ptr<nl_sock, SocketFree> socket(nl_socket_alloc());
    if (!socket) throw NetworkError("out of memory allocating a netlink socket");
    if (const int error = nl_connect(socket.get(), NETLINK_ROUTE); error < 0)
        throw NetworkError(fmt::format("connect a NETLINK_ROUTE socket: {}", nl_geterror(error)));
    return Netlink(std::move(socket), "the host");
}

Netlink Netlink::in_namespace(int netns_fd, const std::string& description) {
    std::unique_ptr<nl_sock, SocketFree> socket(nl_socket_alloc());
    if (!socket) throw NetworkError("out of memory allocating a netlink socket");
    int error;
    {
        // The socket belongs to the namespace it is created in, wherever it is used from.
        NamespaceVisit visit(netns_fd, description);
        error = nl_connect(socket.get(), NETLINK_ROUTE);
    }
    if (error < 0)
        throw NetworkError(fmt::format("connect a NETLINK_ROUTE socket in {}: {}", description,
                                       nl_geterror(error)));
    return Netlink(std::move(socket), description);
}

std::optional<Netlink::LinkState> Netlink::find_link(const std::string& name) {
    rtnl_link* raw = nullptr;
    const int error = rtnl_link_get_kernel(socket_.get(), 0, name.c_str(), &raw);
    LinkPtr link(raw);
    if (is_missing(error)) return std::nullopt;
    if (error < 0)
        throw NetworkError(
            fmt::format("look up interface {} in {}: {}", name, where_, nl_geterror(error)));
    LinkState state;
    state.index = rtnl_link_get_ifindex(link.get());
    state.up = (rtnl_link_get_flags(link.get()) & IFF_UP) != 0;
    if (const char* kind = rtnl_link_get_type(link.get())) state.kind = kind;
    state.master = rtnl_link_get_master(link.get());
    return state;
}

int Netlink::index_of(const std::string& name) {
    const auto state = find_link(name);
    if (!state) throw NetworkError(fmt::format("interface {} does not exist in {}", name, where_));
    return state->index;
}

void Netlink::add_bridge(const std::string& name) {
    LinkPtr link(rtnl_link_alloc());
    if (!link) throw NetworkError("out of memory allocating a netlink link");
    rtnl_link_set_name(link.get(), name.c_str());
    if (const int error = rtnl_link_set_type(link.get(), "bridge"); error < 0)
        throw NetworkError(fmt::format("make bridge {}: libnl knows no \"bridge\" type: {}", name,
                                       nl_geterror(error)));
    const int error = rtnl_link_add(socket_.get(), link.get(), NLM_F_CREATE | NLM_F_EXCL);
    if (error < 0 && error != -NLE_EXIST)
        throw NetworkError(fmt::format(
            "create bridge {} in {}: {} (it needs CAP_NET_ADMIN and the kernel's bridge module)",
            name, where_, nl_geterror(error)));
}

void Netlink::add_veth(const std::string& host_name, int master_index, const std::string& peer_name,
                       int peer_netns_fd, const std::array<uint8_t, 6>& peer_mac) {
    LinkPtr veth(rtnl_link_veth_alloc());
    if (!veth) throw NetworkError("out of memory allocating a veth link");
    rtnl_link_set_name(veth.get(), host_name.c_str());
    rtnl_link_set_master(veth.get(), master_index);
    rtnl_link_set_flags(veth.get(), IFF_UP);
    LinkPtr peer(rtnl_link_veth_get_peer(veth.get()));
    rtnl_link_set_name(peer.get(), peer_name.c_str());
    rtnl_link_set_ns_fd(peer.get(), peer_netns_fd);
    const NlAddrPtr mac(nl_addr_build(AF_LLC, peer_mac.data(), peer_mac.size()));
    if (!mac) throw NetworkError("out of memory building a hardware address");
    rtnl_link_set_addr(peer.get(), mac.get());
    if (const int error = rtnl_link_add(socket_.get(), veth.get(), NLM_F_CREATE | NLM_F_EXCL);
        error < 0)
        throw NetworkError(fmt::format(
            "create veth pair {} (host) / {} (container side): {}{}", host_name, peer_name,
            nl_geterror(error),
            error == -NLE_EXIST ? fmt::format("; the container's namespace has a {} already (a "
                                              "container joins one network)",
                                              peer_name)
                                : ""));
}

void Netlink::set_up(const std::string& name) {
    rtnl_link* raw = nullptr;
    int error = rtnl_link_get_kernel(socket_.get(), 0, name.c_str(), &raw);
    LinkPtr link(raw);
    if (error < 0)
        throw NetworkError(
            fmt::format("look up interface {} in {}: {}", name, where_, nl_geterror(error)));
    LinkPtr change(rtnl_link_alloc());
    if (!change) throw NetworkError("out of memory allocating a netlink link");
    rtnl_link_set_flags(change.get(), IFF_UP);
    error = rtnl_link_change(socket_.get(), link.get(), change.get(), 0);
    if (error < 0)
        throw NetworkError(
            fmt::format("set interface {} up in {}: {}", name, where_, nl_geterror(error)));
}

void Netlink::set_master(const std::string& name, int master_index) {
    const int index = index_of(name);
    if (const int error = rtnl_link_enslave_ifindex(socket_.get(), master_index, index); error < 0)
        throw NetworkError(fmt::format("enslave {} to bridge #{} in {}: {}", name, master_index,
                                       where_, nl_geterror(error)));
}

void Netlink::delete_link(const std::string& name) {
    LinkPtr link(rtnl_link_alloc());
    if (!link) throw NetworkError("out of memory allocating a netlink link");
    rtnl_link_set_name(link.get(), name.c_str());
    const int error = rtnl_link_delete(socket_.get(), link.get());
    if (error < 0 && !is_missing(error))
        throw NetworkError(
            fmt::format("delete interface {} in {}: {}", name, where_, nl_geterror(error)));
}

void Netlink::add_address(const std::string& link, Ipv4 address, int prefix) {
    const int index = index_of(link);
    AddrPtr addr(rtnl_addr_alloc());
    if (!addr) throw NetworkError("out of memory allocating a netlink address");
    rtnl_addr_set_ifindex(addr.get(), index);
    const NlAddrPtr local = ipv4_nl_addr(address, prefix);
    rtnl_addr_set_local(addr.get(), local.get());
    rtnl_addr_set_prefixlen(addr.get(), prefix);
    const NlAddrPtr broadcast = ipv4_nl_addr(Ipv4{address.value | ~mask_of(prefix)}, 32);
    rtnl_addr_set_broadcast(addr.get(), broadcast.get());
    const int error = rtnl_addr_add(socket_.get(), addr.get(), 0);
    if (error < 0 && error != -NLE_EXIST)
        throw NetworkError(fmt::format("add address {}/{} to {} in {}: {}", address.to_string(),
                                       prefix, link, where_, nl_geterror(error)));
}

void Netlink::set_default_route(const std::string& link, Ipv4 gateway) {
    const int index = index_of(link);
    RoutePtr route(rtnl_route_alloc());
    NexthopPtr nexthop(rtnl_route_nh_alloc());
    if (!route || !nexthop) throw NetworkError("out of memory allocating a netlink route");
    rtnl_route_set_family(route.get(), AF_INET);
    rtnl_route_set_table(route.get(), RT_TABLE_MAIN);
    rtnl_route_set_scope(route.get(), RT_SCOPE_UNIVERSE);
    rtnl_route_set_protocol(route.get(), RTPROT_BOOT);
    rtnl_route_set_type(route.get(), RTN_UNICAST);
    const NlAddrPtr destination = ipv4_nl_addr(Ipv4{0}, 0);
    if (const int error = rtnl_route_set_dst(route.get(), destination.get()); error < 0)
        throw NetworkError(fmt::format("build the default route: {}", nl_geterror(error)));
    const NlAddrPtr via = ipv4_nl_addr(gateway, 32);
    rtnl_route_nh_set_ifindex(nexthop.get(), index);
    rtnl_route_nh_set_gateway(nexthop.get(), via.get());
    rtnl_route_add_nexthop(route.get(), nexthop.release());
    if (const int error = rtnl_route_add(socket_.get(), route.get(), NLM_F_REPLACE); error < 0)
        throw NetworkError(fmt::format("add default route via {} dev {} in {}: {}",
                                       gateway.to_string(), link, where_, nl_geterror(error)));
}

std::vector<Subnet> Netlink::ipv4_in_use() {
    std::vector<Subnet> used;
    const auto add = [&](std::optional<Ipv4> address, int prefix) {
        if (address && prefix > 0 && prefix <= 32)
            used.push_back(Subnet{Ipv4{address->value & mask_of(prefix)}, prefix});
    };

    nl_cache* raw = nullptr;
    int error = rtnl_route_alloc_cache(socket_.get(), AF_INET, 0, &raw);
    CachePtr routes(raw);
    if (error < 0)
        throw NetworkError(
            fmt::format("list the IPv4 routes of {}: {}", where_, nl_geterror(error)));
    for (nl_object* object = nl_cache_get_first(routes.get()); object;
         object = nl_cache_get_next(object)) {
        auto* route = reinterpret_cast<rtnl_route*>(object);
        if (rtnl_route_get_table(route) != RT_TABLE_MAIN) continue;
        nl_addr* destination = rtnl_route_get_dst(route);
        // The default route (prefix 0) overlaps everything and says nothing about use.
        if (destination) add(ipv4_of(destination), nl_addr_get_prefixlen(destination));
    }

    raw = nullptr;
    error = rtnl_addr_alloc_cache(socket_.get(), &raw);
    CachePtr addresses(raw);
    if (error < 0)
        throw NetworkError(fmt::format("list the addresses of {}: {}", where_, nl_geterror(error)));
    for (nl_object* object = nl_cache_get_first(addresses.get()); object;
         object = nl_cache_get_next(object)) {
        auto* address = reinterpret_cast<rtnl_addr*>(object);
        if (rtnl_addr_get_family(address) != AF_INET) continue;
        add(ipv4_of(rtnl_addr_get_local(address)), rtnl_addr_get_prefixlen(address));
    }
    return used;
}

void enable_ipv4_forwarding() {
    const char* path = "/proc/sys/net/ipv4/ip_forward";
    Fd fd(::open(path, O_RDWR | O_CLOEXEC));
    if (!fd) throw_errno("open", path);
    char current = 0;
    if (::read(fd.get(), &current, 1) < 0) throw_errno("read", path);
    if (current == '1') return;
    if (::pwrite(fd.get(), "1\n", 2, 0) != 2)
        throw_errno("enable IPv4 forwarding (containers reach nothing outside without it): write",
                    path);
}

} // namespace lcloud::runtime::network

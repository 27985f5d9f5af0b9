#include "agent/ports/port_forwarder.hpp"

#include "agent/ports/port_owner.hpp"
#include "agent/ports/published_port.hpp"
#include "agent/ports/socket_address.hpp"

#include <algorithm>
#include <cerrno>
#include <fmt/format.h>
#include <netinet/in.h>
#include <sys/socket.h>

namespace lcloud::agent {

namespace {

bool same_host_side(const Forward& a, const Forward& b) {
    return a.protocol == b.protocol && a.host_ip == b.host_ip && a.host_port == b.host_port;
}

// Whether two host IPs of the same port and protocol cannot both be bound.
bool overlap(const std::string& a, const std::string& b) {
    const bool a_v6 = a.find(':') != std::string::npos;
    const bool b_v6 = b.find(':') != std::string::npos;
    const bool wildcard = a == "0.0.0.0" || a == "::" || b == "0.0.0.0" || b == "::";
    return a == b || (a_v6 == b_v6 && wildcard);
}

// Binds the host side of `forward`: a socket ready to listen (TCP) or to receive (UDP).
Fd bind_host_side(const Forward& forward) {
    const auto address =
        parse_socket_address(forward.host_ip, forward.host_port, "the host IP of a published port");
    const bool udp = forward.protocol == Protocol::udp;
    Fd fd(::socket(address.family(),
                   (udp ? SOCK_DGRAM : SOCK_STREAM) | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
    if (!fd) throw_errno("socket", host_side(forward));
    const int one = 1;
    // "::" means IPv6 only; IPv4 is published on its own, as 0.0.0.0.
    if (address.family() == AF_INET6)
        ::setsockopt(fd.get(), IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof one);
    // Restarting the agent must not wait for the old connections' TIME_WAIT.
    if (!udp) ::setsockopt(fd.get(), SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (::bind(fd.get(), address.get(), address.length) == 0) return fd;
    const int error = errno;
    if (error == EADDRINUSE)
        throw PortInUse(fmt::format("{} is already in use{}", host_side(forward),
                                    describe_port_owner(forward)));
    if (error == EADDRNOTAVAIL)
        throw Error(fmt::format("cannot bind {}: {} is not an address of this host; publish on "
                                "127.0.0.1, 0.0.0.0 or one of the host's addresses",
                                host_side(forward), forward.host_ip));
    throw SystemError("bind", host_side(forward), error);
}

} // namespace

PortForwarder::PortForwarder(EventLoop& loop, Clock::duration udp_idle)
    : loop_(loop), udp_idle_(udp_idle) {}

PortForwarder::~PortForwarder() = default;

void PortForwarder::add(const Forward& forward) {
    const auto served = std::find_if(ports_.begin(), ports_.end(), [&](const auto& port) {
        return same_host_side(port.first, forward);
    });
    if (served != ports_.end()) {
        if (served->first == forward) return;
        throw PortInUse(fmt::format("{} is already published, for {}:{}", host_side(forward),
                                    served->first.target_ip, served->first.target_port));
    }
    const auto target = parse_socket_address(forward.target_ip, forward.target_port,
                                             "the container IP of a published port");
    Fd fd = bind_host_side(forward);
    std::unique_ptr<PublishedPort> port;
    if (forward.protocol == Protocol::tcp) {
        if (::listen(fd.get(), SOMAXCONN) != 0) throw_errno("listen", host_side(forward));
        port = serve_tcp(loop_, std::move(fd), target, host_side(forward));
    } else {
        port = serve_udp(loop_, std::move(fd), target, host_side(forward), udp_idle_);
    }
    ports_.emplace_back(forward, std::move(port));
}

void PortForwarder::remove(const Forward& forward) {
    std::erase_if(ports_, [&](const auto& port) { return same_host_side(port.first, forward); });
}

std::vector<Forward> PortForwarder::list() const {
    std::vector<Forward> out;
    for (const auto& port : ports_)
        out.push_back(port.first);
    return out;
}

size_t PortForwarder::relays() const {
    size_t count = 0;
    for (const auto& port : ports_)
        count += port.second->relays();
    return count;
}

std::vector<std::string> unavailable_ports(const std::vector<Forward>& forwards,
                                           const std::vector<pid_t>& own_holders) {
    std::vector<std::string> out;
    for (size_t i = 0; i < forwards.size(); ++i) {
        const Forward& forward = forwards[i];
        const auto earlier =
            std::find_if(forwards.begin(), forwards.begin() + i, [&](const Forward& other) {
                return other.protocol == forward.protocol && other.host_port == forward.host_port &&
                       overlap(other.host_ip, forward.host_ip);
            });
        if (earlier != forwards.begin() + i) {
            out.push_back(fmt::format("{} is published twice (also as {})", host_side(forward),
                                      host_side(*earlier)));
            continue;
        }
        try {
            bind_host_side(forward); // closed again at once
        } catch (const PortInUse& error) {
            const auto owner = own_holders.empty() ? std::nullopt : find_port_owner(forward);
            const bool own = owner && std::find(own_holders.begin(), own_holders.end(),
                                                owner->pid) != own_holders.end();
            if (!own) out.push_back(error.what());
        } catch (const Error& error) {
            out.push_back(error.what());
        }
    }
    return out;
}

} // namespace lcloud::agent

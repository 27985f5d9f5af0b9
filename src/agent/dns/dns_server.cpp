#include "agent/dns/dns_server.hpp"

#include "agent/dns/dns_tcp.hpp"

#include <arpa/inet.h>
#include <cerrno>
#include <cstring>
#include <fmt/format.h>
#include <fstream>
#include <spdlog/spdlog.h>
#include <sstream>
#include <sys/epoll.h>
#include <sys/socket.h>

namespace lcloud::agent {

using namespace std::chrono_literals;

namespace {

constexpr size_t max_pending = 1024;   // questions waiting for the upstream
constexpr size_t max_tcp_clients = 64; // per address
constexpr int packets_per_event = 64;
constexpr size_t max_packet = 65536;

sockaddr_in ipv4_address(const std::string& ip, uint16_t port, const std::string& role) {
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_port = htons(port);
    if (::inet_pton(AF_INET, ip.c_str(), &address.sin_addr) != 1)
        throw InvalidDnsConfig(
            fmt::format("{} \"{}\" is not an IPv4 address like 10.1.0.1", role, ip));
    return address;
}

// "a.b.c.d" or "a.b.c.d:port".
sockaddr_in parse_upstream(const std::string& upstream) {
    const auto colon = upstream.find(':');
    if (colon == std::string::npos) return ipv4_address(upstream, 53, "the DNS upstream");
    const std::string port = upstream.substr(colon + 1);
    char* end = nullptr;
    const unsigned long number = std::strtoul(port.c_str(), &end, 10);
    if (port.empty() || *end != '\0' || number == 0 || number > 65535)
        throw InvalidDnsConfig(fmt::format(
            "the DNS upstream \"{}\" has no valid port; write it as a.b.c.d or a.b.c.d:port",
            upstream));
    return ipv4_address(upstream.substr(0, colon), static_cast<uint16_t>(number),
                        "the DNS upstream");
}

void send_to(int fd, const std::string& message, const sockaddr_in& client) {
    // UDP: a reply that does not fit now is lost, as it could be on the wire.
    ::sendto(fd, message.data(), message.size(), MSG_NOSIGNAL,
             reinterpret_cast<const sockaddr*>(&client), sizeof client);
}

} // namespace

struct DnsServer::Endpoint {
    std::string address;
    uint16_t port = 0;
    Fd udp, tcp;
    std::map<uint64_t, std::unique_ptr<DnsTcpClient>> clients;
    uint64_t next_client = 1;
    std::optional<EventLoop::TimerId> paused; // accepting, after running out of fds
};

DnsServer::DnsServer(EventLoop& loop, std::vector<std::string> upstreams,
                     Clock::duration upstream_timeout)
    : loop_(loop), upstream_timeout_(upstream_timeout), random_(std::random_device{}()) {
    if (!upstreams.empty()) upstream_ = parse_upstream(upstreams.front());
}

DnsServer::~DnsServer() {
    if (expiry_) loop_.cancel(expiry_->first);
    if (upstream_socket_) loop_.unwatch(upstream_socket_.get());
    for (auto& [address, endpoint] : endpoints_)
        close(*endpoint);
}

uint16_t DnsServer::listen(const std::string& address, uint16_t port) {
    const auto found = endpoints_.find(address);
    if (found != endpoints_.end()) {
        if (port == 0 || port == found->second->port) return found->second->port;
        throw InvalidDnsConfig(fmt::format("the DNS server already listens on {}:{}, not port {}",
                                           address, found->second->port, port));
    }
    auto endpoint = std::make_unique<Endpoint>();
    endpoint->address = address;
    sockaddr_in where = ipv4_address(address, port, "the DNS listen address");
    const std::string name = fmt::format("{}:{}", address, port);
    endpoint->udp = Fd(::socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
    socklen_t length = sizeof where;
    if (!endpoint->udp) throw_errno("socket", "the DNS server on " + name);
    if (::bind(endpoint->udp.get(), reinterpret_cast<const sockaddr*>(&where), length) != 0)
        throw_errno("bind the DNS server (UDP) to", name);
    ::getsockname(endpoint->udp.get(), reinterpret_cast<sockaddr*>(&where), &length);
    endpoint->port = ntohs(where.sin_port);

    // TCP is for answers too big for UDP; without it names still resolve.
    Fd tcp(::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
    const int one = 1;
    if (tcp) ::setsockopt(tcp.get(), SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (!tcp || ::bind(tcp.get(), reinterpret_cast<const sockaddr*>(&where), sizeof where) != 0 ||
        ::listen(tcp.get(), 64) != 0)
        spdlog::warn("DNS server on {}:{}: no TCP: {}", address, endpoint->port,
                     std::strerror(errno));
    else
        endpoint->tcp = std::move(tcp);

    Endpoint* raw = endpoint.get();
    loop_.watch(raw->udp.get(), EPOLLIN, [this, raw](uint32_t) { on_udp_queries(*raw); });
    if (raw->tcp)
        loop_.watch(raw->tcp.get(), EPOLLIN, [this, raw](uint32_t) { on_tcp_clients(*raw); });
    endpoints_.emplace(address, std::move(endpoint));
    names_.try_emplace(address);
    return raw->port;
}

void DnsServer::set_records(const std::string& address, DnsRecords records) {
    names_[address] = compile_records(records);
}

void DnsServer::stop_listening(const std::string& address) {
    names_.erase(address);
    const auto found = endpoints_.find(address);
    if (found == endpoints_.end()) return;
    close(*found->second);
    endpoints_.erase(found);
    // Questions still at the upstream find no endpoint when answered or expired: dropped.
}

void DnsServer::close(Endpoint& endpoint) {
    endpoint.clients.clear();
    if (endpoint.paused)
        loop_.cancel(*endpoint.paused);
    else if (endpoint.tcp)
        loop_.unwatch(endpoint.tcp.get());
    loop_.unwatch(endpoint.udp.get());
}

DnsDecision DnsServer::decide(const std::string& address, std::string_view packet) const {
    static const DnsNames none;
    const auto names = names_.find(address);
    return decide_dns(packet, names == names_.end() ? none : names->second, upstream_.has_value());
}

void DnsServer::on_udp_queries(Endpoint& endpoint) {
    static char buffer[max_packet]; // one thread: the agent's loop
    for (int count = 0; count < packets_per_event; ++count) {
        sockaddr_in client{};
        socklen_t length = sizeof client;
        const ssize_t got = ::recvfrom(endpoint.udp.get(), buffer, sizeof buffer, 0,
                                       reinterpret_cast<sockaddr*>(&client), &length);
        if (got < 0) {
            if (errno == EINTR) continue;
            return;
        }
        const std::string_view packet(buffer, static_cast<size_t>(got));
        DnsDecision decision = decide(endpoint.address, packet);
        if (decision.kind == DnsDecision::Kind::reply)
            send_to(endpoint.udp.get(), decision.reply, client);
        else if (decision.kind == DnsDecision::Kind::forward)
            forward_udp(endpoint, client, decision.query, std::string(packet));
    }
}

void DnsServer::forward_udp(Endpoint& endpoint, const sockaddr_in& client, const DnsQuery& query,
                            std::string packet) {
    const auto fail = [&] {
        send_to(endpoint.udp.get(),
                encode_dns_answer(query, DnsRcode::server_failure, {}, 0, false), client);
    };
    if (pending_.size() >= max_pending) return fail();
    if (!upstream_socket_) {
        // Connected, so the kernel drops datagrams from anyone but the upstream.
        Fd socket(::socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
        if (!socket || ::connect(socket.get(), reinterpret_cast<const sockaddr*>(&*upstream_),
                                 sizeof *upstream_) != 0) {
            spdlog::warn("DNS server: cannot reach the upstream: {}", std::strerror(errno));
            return fail();
        }
        loop_.watch(socket.get(), EPOLLIN, [this](uint32_t) { on_upstream_answers(); });
        upstream_socket_ = std::move(socket);
    }
    // A random id, so that a guessed answer is unlikely to be taken for the real one.
    uint16_t id = 0;
    do
        id = static_cast<uint16_t>(random_());
    while (pending_.count(id));
    packet[0] = static_cast<char>(id >> 8);
    packet[1] = static_cast<char>(id & 0xff);
    ssize_t sent = ::send(upstream_socket_.get(), packet.data(), packet.size(), 0);
    if (sent < 0 && errno == ECONNREFUSED) // an earlier question's ICMP error, reported now
        sent = ::send(upstream_socket_.get(), packet.data(), packet.size(), 0);
    if (sent < 0) return fail();
    const auto deadline = Clock::now() + upstream_timeout_;
    pending_.emplace(id, Pending{endpoint.address, client, query, deadline});
    arm_expiry(deadline);
}

void DnsServer::on_upstream_answers() {
    static char buffer[max_packet];
    for (int count = 0; count < packets_per_event; ++count) {
        const ssize_t got = ::recv(upstream_socket_.get(), buffer, sizeof buffer, 0);
        if (got < 0) {
            if (errno == EINTR || errno == ECONNREFUSED) continue;
            return;
        }
        std::string answer(buffer, static_cast<size_t>(got));
        decltype(pending_)::iterator found;
        try {
            const DnsHeader header = parse_dns_header(answer);
            found = pending_.find(header.id);
            if (!header.is_response() || found == pending_.end()) continue;
            // The answer must be to the question asked, not just carry its id.
            if (header.questions != 0 && first_question(answer) != found->second.query.question)
                continue;
        } catch (const MalformedDnsMessage&) {
            continue;
        }
        const Pending& pending = found->second;
        answer[0] = static_cast<char>(pending.query.header.id >> 8);
        answer[1] = static_cast<char>(pending.query.header.id & 0xff);
        const auto endpoint = endpoints_.find(pending.address);
        if (endpoint != endpoints_.end())
            send_to(endpoint->second->udp.get(), answer, pending.client);
        pending_.erase(found);
    }
}

void DnsServer::arm_expiry(Clock::time_point at) {
    if (expiry_ && expiry_->second <= at) return; // it fires first and arms the next one
    if (expiry_) loop_.cancel(expiry_->first);
    expiry_.emplace(loop_.after(at - Clock::now(), [this] { expire(); }), at);
}

void DnsServer::expire() {
    expiry_.reset();
    const auto now = Clock::now();
    std::optional<Clock::time_point> next;
    for (auto it = pending_.begin(); it != pending_.end();) {
        const Pending& pending = it->second;
        if (pending.deadline > now) {
            next = next ? std::min(*next, pending.deadline) : pending.deadline;
            ++it;
            continue;
        }
        const auto endpoint = endpoints_.find(pending.address);
        if (endpoint != endpoints_.end())
            send_to(endpoint->second->udp.get(),
                    encode_dns_answer(pending.query, DnsRcode::server_failure, {}, 0, false),
                    pending.client);
        it = pending_.erase(it);
    }
    if (next) arm_expiry(*next);
}

void DnsServer::on_tcp_clients(Endpoint& endpoint) {
    for (int count = 0; count < packets_per_event; ++count) {
        Fd client(::accept4(endpoint.tcp.get(), nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC));
        if (!client) {
            if (errno == EINTR || errno == ECONNABORTED || errno == EPROTO) continue;
            if (errno == EAGAIN || errno == EWOULDBLOCK) return;
            // Out of fds: the listener would fire on every round, so rest a while.
            spdlog::warn("DNS server on {}: accept: {}", endpoint.address, std::strerror(errno));
            loop_.unwatch(endpoint.tcp.get());
            endpoint.paused = loop_.after(1s, [this, &endpoint] {
                endpoint.paused.reset();
                loop_.watch(endpoint.tcp.get(), EPOLLIN,
                            [this, &endpoint](uint32_t) { on_tcp_clients(endpoint); });
            });
            return;
        }
        if (endpoint.clients.size() >= max_tcp_clients) continue; // closed: come back later
        const uint64_t id = endpoint.next_client++;
        const std::string address = endpoint.address;
        endpoint.clients.emplace(
            id, std::make_unique<DnsTcpClient>(
                    loop_, std::move(client),
                    [this, address](std::string_view query) { return decide(address, query); },
                    upstream_, upstream_timeout_, [&endpoint, id] { endpoint.clients.erase(id); }));
    }
}

std::vector<std::string> read_upstreams(const std::filesystem::path& resolv_conf) {
    std::vector<std::string> out;
    std::ifstream in(resolv_conf);
    for (std::string line; std::getline(in, line);) {
        std::istringstream words(line);
        std::string keyword, address;
        words >> keyword >> address;
        in_addr parsed{};
        if (keyword == "nameserver" && ::inet_pton(AF_INET, address.c_str(), &parsed) == 1)
            out.push_back(address);
    }
    return out;
}

} // namespace lcloud::agent

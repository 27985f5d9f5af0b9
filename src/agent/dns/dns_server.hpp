#pragma once

// Names inside an environment: a small DNS server on each network's gateway address that
// answers A queries for the containers of that network (a service name resolves to every
// replica) and forwards other questions to the host's resolvers.

#include "agent/dns/dns_answer.hpp"
#include "agent/dns/errors.hpp"
#include "agent/event_loop.hpp"
#include "common/fd.hpp"

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <map>
#include <memory>
#include <netinet/in.h>
#include <optional>
#include <random>
#include <string>
#include <vector>

namespace lcloud::agent {

class DnsServer {
  public:
    // `upstreams`: nameservers as "a.b.c.d" (port 53) or "a.b.c.d:port"; questions for other
    // names go to the first, whose answer is relayed, or SERVFAIL after `upstream_timeout`.
    // Without upstreams other names are NXDOMAIN. Throws InvalidDnsConfig for a bad upstream.
    DnsServer(EventLoop& loop, std::vector<std::string> upstreams,
              Clock::duration upstream_timeout = std::chrono::seconds(2));
    DnsServer(const DnsServer&) = delete;
    DnsServer& operator=(const DnsServer&) = delete;
    ~DnsServer();

    // Serves UDP and TCP on address:port (IPv4) and returns the port, useful with 0. Listening
    // again on an address already served on that port does nothing. Throws SystemError when it
    // cannot bind.
    uint16_t listen(const std::string& address, uint16_t port);
    // Replaces the A records answered on `address`. Names match case-insensitively, with or
    // without a trailing dot, exactly (no search suffixes). Throws InvalidDnsConfig for a name
    // or address that cannot be served, leaving the old records.
    void set_records(const std::string& address, DnsRecords records);
    // Closes the sockets of `address` and forgets its records.
    void stop_listening(const std::string& address);

  private:
    struct Endpoint;
    struct Pending {
        std::string address; // the endpoint the question came to
        sockaddr_in client{};
        DnsQuery query;
        Clock::time_point deadline;
    };

    void on_udp_queries(Endpoint& endpoint);
    void forward_udp(Endpoint& endpoint, const sockaddr_in& client, const DnsQuery& query,
                     std::string packet);
    void on_upstream_answers();
    void on_tcp_clients(Endpoint& endpoint);
    void arm_expiry(Clock::time_point at);
    void expire();
    void close(Endpoint& endpoint);
    DnsDecision decide(const std::string& address, std::string_view packet) const;

    EventLoop& loop_;
    std::optional<sockaddr_in> upstream_;
    Clock::duration upstream_timeout_;
    std::map<std::string, std::unique_ptr<Endpoint>> endpoints_;
    std::map<std::string, DnsNames> names_; // by endpoint address
    Fd upstream_socket_;
    std::map<uint16_t, Pending> pending_; // by the id sent upstream
    std::optional<std::pair<EventLoop::TimerId, Clock::time_point>> expiry_;
    std::mt19937 random_;
};

// The IPv4 nameservers of a resolv.conf, in order; none when it cannot be read.
std::vector<std::string>
read_upstreams(const std::filesystem::path& resolv_conf = "/etc/resolv.conf");

} // namespace lcloud::agent

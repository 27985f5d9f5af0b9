#pragma once

// What the agent's name server does with one query: answer it from the records of the address
// it came to, pass it on to an upstream, or drop it.

#include "agent/dns/dns_message.hpp"

#include <map>
#include <string>
#include <string_view>
#include <vector>

namespace lcloud::agent {

// name -> IPv4 addresses, as the supervisor gives them.
using DnsRecords = std::map<std::string, std::vector<std::string>>;
// The same, ready to answer from: names normalized, addresses parsed.
using DnsNames = std::map<std::string, std::vector<Ipv4>>;

// Lowercase (ASCII) without trailing dots: how names are compared.
std::string normalize_dns_name(std::string_view name);
// Throws InvalidDnsConfig naming a name or address that cannot be served.
DnsNames compile_records(const DnsRecords& records);

struct DnsDecision {
    enum class Kind { drop, reply, forward };
    Kind kind = Kind::drop;
    std::string reply;
    DnsQuery query; // parsed, for forward
};

// A known name: its A records (TTL 0; containers come and go) and no AAAA; other names go to
// the upstream when there is one, else NXDOMAIN. Malformed packets and answers are dropped.
DnsDecision decide_dns(std::string_view packet, const DnsNames& names, bool can_forward);

} // namespace lcloud::agent

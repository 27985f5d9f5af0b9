#pragma once

// The little of the DNS wire format (RFC 1035) that the agent's name server needs: reading a
// query's question, writing answers with A records, reading an answer's header and question.
// Every read is bounds-checked and throws MalformedDnsMessage.

#include "agent/dns/errors.hpp"

#include <array>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace lcloud::agent {

namespace dns {
constexpr uint16_t type_a = 1;
constexpr uint16_t type_aaaa = 28;
constexpr uint16_t class_in = 1;
constexpr uint16_t class_any = 255;
constexpr uint16_t flag_response = 0x8000;
constexpr uint16_t flag_authoritative = 0x0400;
constexpr uint16_t flag_truncated = 0x0200;
constexpr uint16_t flag_recursion_desired = 0x0100;
constexpr uint16_t flag_recursion_available = 0x0080;
constexpr size_t header_size = 12;
constexpr size_t max_udp_size = 512; // without EDNS
} // namespace dns

enum class DnsRcode : uint8_t {
    no_error = 0,
    format_error = 1,
    server_failure = 2,
    name_error = 3, // NXDOMAIN
    not_implemented = 4,
    refused = 5,
};

struct DnsHeader {
    uint16_t id = 0;
    uint16_t flags = 0;
    uint16_t questions = 0, answers = 0, authorities = 0, additionals = 0;

    uint8_t opcode() const { return (flags >> 11) & 0x0f; }
    DnsRcode rcode() const { return static_cast<DnsRcode>(flags & 0x0f); }
    bool is_response() const { return (flags & dns::flag_response) != 0; }
};

struct DnsQuestion {
    // Lowercase (ASCII), labels joined by dots, no trailing dot; a dot inside a label is "\.".
    std::string name;
    uint16_t type = 0;
    uint16_t klass = 0;
    bool operator==(const DnsQuestion&) const = default;
};

struct DnsQuery {
    DnsHeader header;
    DnsQuestion question;
    std::string question_wire; // the question section as sent, echoed in the answer
};

using Ipv4 = std::array<uint8_t, 4>;

DnsHeader parse_dns_header(std::string_view message);
// The name at `offset`, following compression pointers; `offset` moves past it.
std::string read_dns_name(std::string_view message, size_t& offset);
// A query: QR clear, exactly one question. What follows the question (EDNS) is not read.
DnsQuery parse_dns_query(std::string_view message);
// The first question of a message that has one (an upstream's answer).
DnsQuestion first_question(std::string_view message);

// The answer to `query`: its id, opcode and RD copied, the question echoed, one A record per
// address. Addresses that would take it past 512 bytes are left out.
std::string encode_dns_answer(const DnsQuery& query, DnsRcode rcode,
                              const std::vector<Ipv4>& addresses = {}, uint32_t ttl = 0,
                              bool authoritative = true);
// An answer with only a header, for a query whose question cannot be used.
std::string encode_dns_error(const DnsHeader& query, DnsRcode rcode);
// A query for `name` (dotted, trailing dot optional), as a stub resolver sends it.
std::string encode_dns_query(uint16_t id, std::string_view name, uint16_t type);

// What tests and logs want of an answer: the header and its A records.
struct DnsAnswer {
    DnsHeader header;
    std::vector<DnsQuestion> questions;
    std::vector<Ipv4> addresses;
    std::vector<uint32_t> ttls;
};
DnsAnswer parse_dns_answer(std::string_view message);

std::string format_ipv4(const Ipv4& address);

} // namespace lcloud::agent

#include "agent/dns/dns_answer.hpp"

#include <algorithm>
#include <arpa/inet.h>
#include <fmt/format.h>

namespace lcloud::agent {

namespace {

constexpr uint16_t type_any = 255;
constexpr uint8_t opcode_query = 0;

} // namespace

std::string normalize_dns_name(std::string_view name) {
    while (!name.empty() && name.back() == '.')
        name.remove_suffix(1);
    std::string out(name);
    for (char& c : out)
        if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
    return out;
}

DnsNames compile_records(const DnsRecords& records) {
    DnsNames names;
    for (const auto& [name, addresses] : records) {
        const std::string key = normalize_dns_name(name);
        if (key.empty() || key.size() > 253)
            throw InvalidDnsConfig(
                fmt::format("\"{}\" cannot be served as a DNS name: it must have 1 to 253 "
                            "characters",
                            name));
        auto& parsed = names[key];
        for (const auto& address : addresses) {
            Ipv4 bytes{};
            if (::inet_pton(AF_INET, address.c_str(), bytes.data()) != 1)
                throw InvalidDnsConfig(fmt::format(
                    "the address \"{}\" of DNS name \"{}\" is not an IPv4 address", address, name));
            if (std::find(parsed.begin(), parsed.end(), bytes) == parsed.end())
                parsed.push_back(bytes);
        }
    }
    return names;
}

DnsDecision decide_dns(std::string_view packet, const DnsNames& names, bool can_forward) {
    DnsDecision decision;
    DnsHeader header;
    try {
        header = parse_dns_header(packet);
    } catch (const MalformedDnsMessage&) {
        return decision; // not even an id to answer to
    }
    // Never answer an answer: two servers could bounce it between them forever.
    if (header.is_response()) return decision;
    decision.kind = DnsDecision::Kind::reply;
    if (header.opcode() != opcode_query) {
        decision.reply = encode_dns_error(header, DnsRcode::not_implemented);
        return decision;
    }
    if (header.questions != 1) {
        decision.reply = encode_dns_error(header, DnsRcode::format_error);
        return decision;
    }
    try {
        decision.query = parse_dns_query(packet);
    } catch (const MalformedDnsMessage&) {
        decision.kind = DnsDecision::Kind::drop;
        return decision;
    }
    const DnsQuestion& question = decision.query.question;
    const bool internet = question.klass == dns::class_in || question.klass == dns::class_any;
    const auto found = internet ? names.find(question.name) : names.end();
    if (found != names.end()) {
        static const std::vector<Ipv4> none;
        const bool wants_a = question.type == dns::type_a || question.type == type_any;
        decision.reply =
            encode_dns_answer(decision.query, DnsRcode::no_error, wants_a ? found->second : none);
        return decision;
    }
    if (can_forward) {
        decision.kind = DnsDecision::Kind::forward;
        return decision;
    }
    decision.reply = encode_dns_answer(decision.query, DnsRcode::name_error, {}, 0, false);
    return decision;
}

} // namespace lcloud::agent

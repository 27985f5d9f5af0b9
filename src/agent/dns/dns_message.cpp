#include "agent/dns/dns_message.hpp"

#include <algorithm>
#include <fmt/format.h>

namespace lcloud::agent {

namespace {

constexpr size_t max_name_length = 255; // on the wire, with the length bytes
constexpr size_t max_label_length = 63;

uint16_t read_u16(std::string_view message, size_t offset, const char* what) {
    if (offset + 2 > message.size())
        throw MalformedDnsMessage(
            fmt::format("DNS message of {} bytes ends inside its {}", message.size(), what));
    return static_cast<uint16_t>((static_cast<uint8_t>(message[offset]) << 8) |
                                 static_cast<uint8_t>(message[offset + 1]));
}

uint32_t read_u32(std::string_view message, size_t offset, const char* what) {
    return (static_cast<uint32_t>(read_u16(message, offset, what)) << 16) |
           read_u16(message, offset + 2, what);
}

void put_u16(std::string& out, uint16_t value) {
    out += static_cast<char>(value >> 8);
    out += static_cast<char>(value & 0xff);
}

void put_u32(std::string& out, uint32_t value) {
    put_u16(out, static_cast<uint16_t>(value >> 16));
    put_u16(out, static_cast<uint16_t>(value & 0xffff));
}

void put_header(std::string& out, const DnsHeader& header) {
    put_u16(out, header.id);
    put_u16(out, header.flags);
    put_u16(out, header.questions);
    put_u16(out, header.answers);
    put_u16(out, header.authorities);
    put_u16(out, header.additionals);
}

char lower(char c) {
    return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c;
}

// Reads a question at `offset`, moving it past the question.
DnsQuestion read_question(std::string_view message, size_t& offset) {
    DnsQuestion question;
    question.name = read_dns_name(message, offset);
    question.type = read_u16(message, offset, "question type");
    question.klass = read_u16(message, offset + 2, "question class");
    offset += 4;
    return question;
}

// Moves `offset` past a resource record, returning its type, class, TTL and data.
struct Record {
    uint16_t type, klass;
    uint32_t ttl;
    std::string_view data;
};

Record read_record(std::string_view message, size_t& offset) {
    read_dns_name(message, offset);
    Record record{};
    record.type = read_u16(message, offset, "record type");
    record.klass = read_u16(message, offset + 2, "record class");
    record.ttl = read_u32(message, offset + 4, "record TTL");
    const uint16_t length = read_u16(message, offset + 8, "record length");
    offset += 10;
    if (offset + length > message.size())
        throw MalformedDnsMessage(
            fmt::format("DNS record of {} bytes runs past the end of a {}-byte message", length,
                        message.size()));
    record.data = message.substr(offset, length);
    offset += length;
    return record;
}

} // namespace

DnsHeader parse_dns_header(std::string_view message) {
    if (message.size() < dns::header_size)
        throw MalformedDnsMessage(
            fmt::format("DNS message of {} bytes is shorter than a header (12)", message.size()));
    DnsHeader header;
    header.id = read_u16(message, 0, "header");
    header.flags = read_u16(message, 2, "header");
    header.questions = read_u16(message, 4, "header");
    header.answers = read_u16(message, 6, "header");
    header.authorities = read_u16(message, 8, "header");
    header.additionals = read_u16(message, 10, "header");
    return header;
}

std::string read_dns_name(std::string_view message, size_t& offset) {
    std::string name;
    size_t at = offset;
    size_t wire_length = 0;
    bool jumped = false;
    // Every pointer must point before the lowest position read so far, so following them ends.
    size_t lowest = at;
    for (;;) {
        if (at >= message.size())
            throw MalformedDnsMessage("DNS name runs past the end of the message");
        const auto length = static_cast<uint8_t>(message[at]);
        if ((length & 0xc0) == 0xc0) {
            if (at + 1 >= message.size())
                throw MalformedDnsMessage("DNS message ends inside a compression pointer");
            const size_t target = ((length & 0x3fu) << 8) | static_cast<uint8_t>(message[at + 1]);
            if (target >= lowest)
                throw MalformedDnsMessage(fmt::format(
                    "DNS compression pointer at {} to {} does not point backwards", at, target));
            if (!jumped) offset = at + 2;
            jumped = true;
            lowest = at = target;
            continue;
        }
        if (length > max_label_length)
            throw MalformedDnsMessage(
                fmt::format("DNS label type 0x{:02x} at {} is not supported", length & 0xc0, at));
        wire_length += 1u + length;
        if (wire_length > max_name_length)
            throw MalformedDnsMessage("DNS name is longer than 255 bytes");
        if (length == 0) {
            if (!jumped) offset = at + 1;
            return name;
        }
        if (at + 1 + length > message.size())
            throw MalformedDnsMessage("DNS label runs past the end of the message");
        if (!name.empty()) name += '.';
        for (const char c : message.substr(at + 1, length)) {
            if (c == '.' || c == '\\') name += '\\';
            name += lower(c);
        }
        at += 1u + length;
    }
}

DnsQuery parse_dns_query(std::string_view message) {
    DnsQuery query;
    query.header = parse_dns_header(message);
    if (query.header.is_response())
        throw MalformedDnsMessage("DNS message is an answer, not a query");
    if (query.header.questions != 1)
        throw MalformedDnsMessage(
            fmt::format("DNS query has {} questions; one is expected", query.header.questions));
    size_t offset = dns::header_size;
    query.question = read_question(message, offset);
    query.question_wire = std::string(message.substr(dns::header_size, offset - dns::header_size));
    return query;
}

DnsQuestion first_question(std::string_view message) {
    if (parse_dns_header(message).questions == 0)
        throw MalformedDnsMessage("DNS message has no question");
    size_t offset = dns::header_size;
    return read_question(message, offset);
}

std::string encode_dns_answer(const DnsQuery& query, DnsRcode rcode,
                              const std::vector<Ipv4>& addresses, uint32_t ttl,
                              bool authoritative) {
    constexpr size_t record_size = 2 + 2 + 2 + 4 + 2 + 4;
    const size_t room = dns::max_udp_size - dns::header_size - query.question_wire.size();
    const size_t count = std::min(addresses.size(), room / record_size);
    DnsHeader header;
    header.id = query.header.id;
    header.flags =
        static_cast<uint16_t>(dns::flag_response | (query.header.flags & 0x7800) | // opcode
                              (authoritative ? dns::flag_authoritative : 0) |
                              (query.header.flags & dns::flag_recursion_desired) |
                              dns::flag_recursion_available | static_cast<uint16_t>(rcode));
    header.questions = 1;
    header.answers = static_cast<uint16_t>(count);
    std::string out;
    put_header(out, header);
    out += query.question_wire;
    for (size_t i = 0; i < count; ++i) {
        put_u16(out, 0xc000 | dns::header_size); // the question's name
        put_u16(out, dns::type_a);
        put_u16(out, dns::class_in);
        put_u32(out, ttl);
        put_u16(out, 4);
        out.append(reinterpret_cast<const char*>(addresses[i].data()), 4);
    }
    return out;
}

std::string encode_dns_error(const DnsHeader& query, DnsRcode rcode) {
    DnsHeader header;
    header.id = query.id;
    header.flags = static_cast<uint16_t>(dns::flag_response | (query.flags & 0x7800) |
                                         (query.flags & dns::flag_recursion_desired) |
                                         static_cast<uint16_t>(rcode));
    std::string out;
    put_header(out, header);
    return out;
}

std::string encode_dns_query(uint16_t id, std::string_view name, uint16_t type) {
    DnsHeader header;
    header.id = id;
    header.flags = dns::flag_recursion_desired;
    header.questions = 1;
    std::string out;
    put_header(out, header);
    while (!name.empty() && name.back() == '.')
        name.remove_suffix(1);
    while (!name.empty()) {
        const auto dot = name.find('.');
        const auto label = name.substr(0, dot);
        if (label.empty() || label.size() > max_label_length)
            throw MalformedDnsMessage(fmt::format("\"{}\" is not a DNS name", name));
        out += static_cast<char>(label.size());
        out += label;
        name = dot == std::string_view::npos ? std::string_view() : name.substr(dot + 1);
    }
    out += '\0';
    put_u16(out, type);
    put_u16(out, dns::class_in);
    return out;
}

DnsAnswer parse_dns_answer(std::string_view message) {
    DnsAnswer answer;
    answer.header = parse_dns_header(message);
    size_t offset = dns::header_size;
    for (uint16_t i = 0; i < answer.header.questions; ++i)
        answer.questions.push_back(read_question(message, offset));
    for (uint16_t i = 0; i < answer.header.answers; ++i) {
        const Record record = read_record(message, offset);
        if (record.type != dns::type_a || record.klass != dns::class_in) continue;
        if (record.data.size() != 4)
            throw MalformedDnsMessage(fmt::format(
                "DNS A record has {} bytes of data; 4 are expected", record.data.size()));
        Ipv4 address;
        std::copy(record.data.begin(), record.data.end(), address.begin());
        answer.addresses.push_back(address);
        answer.ttls.push_back(record.ttl);
    }
    return answer;
}

std::string format_ipv4(const Ipv4& address) {
    return fmt::format("{}.{}.{}.{}", address[0], address[1], address[2], address[3]);
}

} // namespace lcloud::agent

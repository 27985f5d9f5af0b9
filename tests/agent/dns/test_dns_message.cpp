#include "agent/dns/dns_answer.hpp"
#include "agent/dns/dns_message.hpp"

#include <doctest/doctest.h>
#include <string>
#include <vector>

using namespace lcloud;
using namespace lcloud::agent;

namespace {

std::string bytes(std::initializer_list<int> values) {
    std::string out;
    for (const int value : values)
        out += static_cast<char>(value);
    return out;
}

// A query header: id 0x1234, RD, one question.
std::string header(int questions = 1, int flags_high = 0x01) {
    return bytes({0x12, 0x34, flags_high, 0x00, 0, questions, 0, 0, 0, 0, 0, 0});
}

} // namespace

TEST_CASE("agent dns: names are read through compression pointers, lowercased") {
    // "WWW.Example.COM" at 12, then "mail" + pointer to "Example.COM".
    const std::string message =
        header() +
        bytes({3, 'W', 'W', 'W', 7, 'E', 'x', 'a', 'm', 'p', 'l', 'e', 3, 'C', 'O', 'M', 0}) +
        bytes({4, 'm', 'a', 'i', 'l', 0xc0, 16});
    size_t offset = 12;
    CHECK(read_dns_name(message, offset) == "www.example.com");
    CHECK(offset == 29);
    CHECK(read_dns_name(message, offset) == "mail.example.com");
    CHECK(offset == message.size()); // after the pointer, not where it led
}

TEST_CASE("agent dns: malformed names throw instead of reading out of bounds or looping") {
    const std::vector<std::string> bad = {
        header() + bytes({0xc0, 12}),         // a pointer to itself
        header() + bytes({1, 'a', 0xc0, 12}), // a pointer back to its own start: a loop
        header() + bytes({0xc0, 40}),         // a pointer forwards
        header() + bytes({0xc0}),             // a pointer cut short
        header() + bytes({5, 'a', 'b'}),      // a label past the end
        header() + bytes({3, 'a', 'b', 'c'}), // no terminating zero
        header() + bytes({64}) + std::string(64, 'a') + bytes({0}), // a label over 63
        header() + bytes({0x40, 0}),                                // an extended label type
    };
    for (const auto& message : bad) {
        size_t offset = 12;
        CHECK_THROWS_AS(read_dns_name(message, offset), MalformedDnsMessage);
    }
    std::string long_name = header();
    for (int i = 0; i < 5; ++i)
        long_name += bytes({60}) + std::string(60, 'x'); // 305 bytes
    long_name += bytes({0});
    size_t offset = 12;
    CHECK_THROWS_WITH_AS(read_dns_name(long_name, offset), "DNS name is longer than 255 bytes",
                         MalformedDnsMessage);
}

TEST_CASE("agent dns: garbage and truncated packets are dropped, never answered or crashed on") {
    const DnsNames names = compile_records({{"web", {"10.1.0.2"}}});
    const std::string good = encode_dns_query(0x4242, "web", dns::type_a);
    std::vector<std::string> garbage = {
        "",
        "x",
        good.substr(0, 11),                       // not even a header
        good.substr(0, 12),                       // a header promising a question
        good.substr(0, good.size() - 1),          // the question's class cut short
        header() + bytes({0xc0, 12, 0, 1, 0, 1}), // a question whose name loops
        header() + bytes({0xc0, 12}) + bytes({0xc0, 12}),
        std::string(300, '\xff'),
    };
    std::string answer = good;
    answer[2] = static_cast<char>(answer[2] | 0x80); // an answer, not a question
    garbage.push_back(answer);
    uint32_t state = 7;
    for (int i = 0; i < 2000; ++i) { // random bytes behind a plausible header
        std::string packet = header();
        const size_t size = state % 64;
        for (size_t j = 0; j < size; ++j) {
            state = state * 1664525 + 1013904223;
            packet += static_cast<char>(state >> 24);
        }
        const auto decision = decide_dns(packet, names, false);
        if (decision.kind == DnsDecision::Kind::reply) // only ever to a question it could read
            CHECK(parse_dns_answer(decision.reply).header.id == 0x1234);
    }
    for (const auto& packet : garbage)
        CHECK(decide_dns(packet, names, true).kind == DnsDecision::Kind::drop);
}

TEST_CASE("agent dns: queries are answered from the records, other names forwarded or NXDOMAIN") {
    const DnsNames names =
        compile_records({{"Web.", {"10.1.0.2", "10.1.0.3"}}, {"db", {"10.1.0.4"}}});
    const auto ask = [&](const std::string& name, uint16_t type, bool forward = false) {
        return decide_dns(encode_dns_query(0x0101, name, type), names, forward);
    };
    const auto web = ask("wEb", dns::type_a);
    REQUIRE(web.kind == DnsDecision::Kind::reply);
    const auto answer = parse_dns_answer(web.reply);
    CHECK(answer.header.id == 0x0101);
    CHECK(answer.header.is_response());
    CHECK(answer.header.rcode() == DnsRcode::no_error);
    CHECK((answer.header.flags & dns::flag_recursion_desired) != 0);
    REQUIRE(answer.addresses.size() == 2);
    CHECK(format_ipv4(answer.addresses[0]) == "10.1.0.2");
    CHECK(format_ipv4(answer.addresses[1]) == "10.1.0.3");
    CHECK(answer.ttls == std::vector<uint32_t>{0, 0});
    REQUIRE(answer.questions.size() == 1);
    CHECK(answer.questions[0].name == "web");

    const auto six = parse_dns_answer(ask("web.", dns::type_aaaa).reply);
    CHECK(six.header.rcode() == DnsRcode::no_error);
    CHECK(six.header.answers == 0);

    CHECK(ask("web.example.com", dns::type_a, true).kind == DnsDecision::Kind::forward);
    const auto unknown = parse_dns_answer(ask("web.example.com", dns::type_a).reply);
    CHECK(unknown.header.rcode() == DnsRcode::name_error);
    CHECK(unknown.addresses.empty());

    CHECK_THROWS_WITH_AS(compile_records({{"x", {"10.1.0"}}}),
                         "the address \"10.1.0\" of DNS name \"x\" is not an IPv4 address",
                         InvalidDnsConfig);
}

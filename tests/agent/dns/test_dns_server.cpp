#include "agent/dns/dns_server.hpp"
#include "support/temp_dir.hpp"

#include <arpa/inet.h>
#include <cerrno>
#include <doctest/doctest.h>
#include <fstream>
#include <netinet/in.h>
#include <optional>
#include <string>
#include <sys/socket.h>
#include <unistd.h>

using namespace lcloud;
using namespace lcloud::agent;
using namespace std::chrono_literals;

namespace {

sockaddr_in address_of(const std::string& ip, uint16_t port) {
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_port = htons(port);
    ::inet_pton(AF_INET, ip.c_str(), &address.sin_addr);
    return address;
}

// Sends `packet` over UDP and runs the loop until an answer comes back or `wait` passes.
std::optional<std::string> ask_udp(EventLoop& loop, const std::string& ip, uint16_t port,
                                   const std::string& packet, Clock::duration wait = 3s) {
    Fd fd(::socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
    const auto server = address_of(ip, port);
    REQUIRE(::sendto(fd.get(), packet.data(), packet.size(), 0,
                     reinterpret_cast<const sockaddr*>(&server),
                     sizeof server) == static_cast<ssize_t>(packet.size()));
    const auto deadline = Clock::now() + wait;
    char buffer[4096];
    while (Clock::now() < deadline) {
        loop.run_once(5ms);
        const ssize_t got = ::recv(fd.get(), buffer, sizeof buffer, 0);
        if (got >= 0) return std::string(buffer, static_cast<size_t>(got));
    }
    return std::nullopt;
}

// The same over one TCP connection, each packet with its two-byte length in front; the first
// answer.
std::optional<std::string> ask_tcp(EventLoop& loop, const std::string& ip, uint16_t port,
                                   const std::vector<std::string>& packets,
                                   Clock::duration wait = 3s) {
    Fd fd(::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
    const auto server = address_of(ip, port);
    ::connect(fd.get(), reinterpret_cast<const sockaddr*>(&server), sizeof server);
    std::string out;
    for (const auto& packet : packets) {
        out += static_cast<char>(packet.size() >> 8);
        out += static_cast<char>(packet.size() & 0xff);
        out += packet;
    }
    size_t sent = 0;
    std::string in;
    const auto deadline = Clock::now() + wait;
    while (Clock::now() < deadline) {
        loop.run_once(5ms);
        if (sent < out.size()) {
            const ssize_t written =
                ::send(fd.get(), out.data() + sent, out.size() - sent, MSG_NOSIGNAL);
            if (written > 0) sent += static_cast<size_t>(written);
        }
        char buffer[4096];
        const ssize_t got = ::recv(fd.get(), buffer, sizeof buffer, 0);
        if (got > 0) in.append(buffer, static_cast<size_t>(got));
        if (in.size() >= 2) {
            const size_t length = (static_cast<uint8_t>(in[0]) << 8) | static_cast<uint8_t>(in[1]);
            if (in.size() >= 2 + length) return in.substr(2, length);
        }
    }
    return std::nullopt;
}

std::vector<std::string> addresses_in(const std::string& answer) {
    std::vector<std::string> out;
    for (const auto& address : parse_dns_answer(answer).addresses)
        out.push_back(format_ipv4(address));
    return out;
}

DnsRcode rcode_of(const std::string& answer) {
    return parse_dns_answer(answer).header.rcode();
}

} // namespace

TEST_CASE("agent dns: a known name is answered with all its addresses, in any letter case") {
    EventLoop loop;
    DnsServer server(loop, {});
    const uint16_t port = server.listen("127.0.0.1", 0);
    REQUIRE(port != 0);
    server.set_records("127.0.0.1", {{"web", {"10.1.0.2", "10.1.0.3"}}, {"db", {"10.1.0.4"}}});

    const auto web = ask_udp(loop, "127.0.0.1", port, encode_dns_query(0xbeef, "web", dns::type_a));
    REQUIRE(web);
    CHECK(parse_dns_answer(*web).header.id == 0xbeef);
    CHECK(rcode_of(*web) == DnsRcode::no_error);
    CHECK(addresses_in(*web) == std::vector<std::string>{"10.1.0.2", "10.1.0.3"});
    const auto upper = ask_udp(loop, "127.0.0.1", port, encode_dns_query(2, "WeB.", dns::type_a));
    REQUIRE(upper);
    CHECK(addresses_in(*upper) == std::vector<std::string>{"10.1.0.2", "10.1.0.3"});
    const auto six = ask_udp(loop, "127.0.0.1", port, encode_dns_query(3, "db", dns::type_aaaa));
    REQUIRE(six);
    CHECK(rcode_of(*six) == DnsRcode::no_error);
    CHECK(addresses_in(*six).empty());
    // Exact names only: a search suffix is another name, unknown here, and nothing is upstream.
    const auto suffixed =
        ask_udp(loop, "127.0.0.1", port, encode_dns_query(4, "web.lan", dns::type_a));
    REQUIRE(suffixed);
    CHECK(rcode_of(*suffixed) == DnsRcode::name_error);

    // Over TCP too.
    const auto tcp = ask_tcp(loop, "127.0.0.1", port, {encode_dns_query(5, "DB", dns::type_a)});
    REQUIRE(tcp);
    CHECK(addresses_in(*tcp) == std::vector<std::string>{"10.1.0.4"});

    // New records replace the old ones.
    server.set_records("127.0.0.1", {{"web", {"10.1.0.9"}}});
    const auto replaced = ask_udp(loop, "127.0.0.1", port, encode_dns_query(6, "web", dns::type_a));
    REQUIRE(replaced);
    CHECK(addresses_in(*replaced) == std::vector<std::string>{"10.1.0.9"});
    const auto gone = ask_udp(loop, "127.0.0.1", port, encode_dns_query(7, "db", dns::type_a));
    REQUIRE(gone);
    CHECK(rcode_of(*gone) == DnsRcode::name_error);
}

TEST_CASE("agent dns: each listening address answers from its own records") {
    EventLoop loop;
    DnsServer server(loop, {});
    const uint16_t port = server.listen("127.0.0.1", 0);
    REQUIRE(server.listen("127.0.0.2", port) == port);
    server.set_records("127.0.0.1", {{"app", {"10.1.0.2"}}});
    server.set_records("127.0.0.2", {{"app", {"10.2.0.2"}}});
    const auto one = ask_udp(loop, "127.0.0.1", port, encode_dns_query(1, "app", dns::type_a));
    const auto two = ask_udp(loop, "127.0.0.2", port, encode_dns_query(1, "app", dns::type_a));
    REQUIRE(one);
    REQUIRE(two);
    CHECK(addresses_in(*one) == std::vector<std::string>{"10.1.0.2"});
    CHECK(addresses_in(*two) == std::vector<std::string>{"10.2.0.2"});

    server.stop_listening("127.0.0.2");
    CHECK_FALSE(ask_udp(loop, "127.0.0.2", port, encode_dns_query(1, "app", dns::type_a), 300ms));
    CHECK(ask_udp(loop, "127.0.0.1", port, encode_dns_query(1, "app", dns::type_a)));
}

TEST_CASE("agent dns: other names go to the upstream and its answer is relayed") {
    EventLoop loop;
    DnsServer upstream(loop, {});
    const uint16_t upstream_port = upstream.listen("127.0.0.1", 0);
    upstream.set_records("127.0.0.1", {{"example.org", {"192.0.2.7"}}});

    DnsServer server(loop, {"127.0.0.1:" + std::to_string(upstream_port)});
    const uint16_t port = server.listen("127.0.0.3", 0);
    server.set_records("127.0.0.3", {{"web", {"10.1.0.2"}}});

    const auto relayed =
        ask_udp(loop, "127.0.0.3", port, encode_dns_query(0x7777, "Example.org", dns::type_a));
    REQUIRE(relayed);
    CHECK(parse_dns_answer(*relayed).header.id == 0x7777); // the client's id, not ours
    CHECK(addresses_in(*relayed) == std::vector<std::string>{"192.0.2.7"});
    const auto missing =
        ask_udp(loop, "127.0.0.3", port, encode_dns_query(0x7778, "nope.org", dns::type_a));
    REQUIRE(missing);
    CHECK(parse_dns_answer(*missing).header.id == 0x7778);
    CHECK(rcode_of(*missing) == DnsRcode::name_error);
    const auto local = ask_udp(loop, "127.0.0.3", port, encode_dns_query(9, "web", dns::type_a));
    REQUIRE(local);
    CHECK(addresses_in(*local) == std::vector<std::string>{"10.1.0.2"});

    // A TCP question goes upstream over TCP.
    const auto over_tcp =
        ask_tcp(loop, "127.0.0.3", port, {encode_dns_query(0x7779, "example.org", dns::type_a)});
    REQUIRE(over_tcp);
    CHECK(parse_dns_answer(*over_tcp).header.id == 0x7779);
    CHECK(addresses_in(*over_tcp) == std::vector<std::string>{"192.0.2.7"});
}

TEST_CASE("agent dns: an upstream that does not answer gives SERVFAIL") {
    EventLoop loop;
    // Bound, never read: the questions just sit there.
    Fd silent(::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0));
    auto where = address_of("127.0.0.1", 0);
    socklen_t length = sizeof where;
    REQUIRE(::bind(silent.get(), reinterpret_cast<sockaddr*>(&where), length) == 0);
    REQUIRE(::getsockname(silent.get(), reinterpret_cast<sockaddr*>(&where), &length) == 0);
    DnsServer server(loop, {"127.0.0.1:" + std::to_string(ntohs(where.sin_port))}, 300ms);
    const uint16_t port = server.listen("127.0.0.1", 0);
    const auto start = Clock::now();
    const auto answer =
        ask_udp(loop, "127.0.0.1", port, encode_dns_query(0x1111, "example.org", dns::type_a));
    REQUIRE(answer);
    CHECK(Clock::now() - start >= 250ms);
    CHECK(parse_dns_answer(*answer).header.id == 0x1111);
    CHECK(rcode_of(*answer) == DnsRcode::server_failure);
}

TEST_CASE("agent dns: garbage packets are ignored and the server still answers afterwards") {
    EventLoop loop;
    DnsServer server(loop, {});
    const uint16_t port = server.listen("127.0.0.1", 0);
    server.set_records("127.0.0.1", {{"web", {"10.1.0.2"}}});
    const std::string query = encode_dns_query(0x2222, "web", dns::type_a);
    std::string loop_pointer = query.substr(0, 12) + std::string("\xc0\x0c\x00\x01\x00\x01", 6);
    std::string answer_bit = query;
    answer_bit[2] = static_cast<char>(answer_bit[2] | 0x80);
    for (const std::string& garbage :
         {std::string("\x01"), query.substr(0, 12), query.substr(0, query.size() - 2), loop_pointer,
          answer_bit, std::string(1000, '\xc0')})
        CHECK_FALSE(ask_udp(loop, "127.0.0.1", port, garbage, 100ms));
    CHECK_FALSE(ask_tcp(loop, "127.0.0.1", port, {loop_pointer}, 200ms));
    // Over TCP, a frame of garbage is dropped, and the connection still answers the next one.
    const auto tcp = ask_tcp(loop, "127.0.0.1", port, {loop_pointer, "", query});
    REQUIRE(tcp);
    CHECK(parse_dns_answer(*tcp).header.id == 0x2222);
    const auto answer = ask_udp(loop, "127.0.0.1", port, query);
    REQUIRE(answer);
    CHECK(addresses_in(*answer) == std::vector<std::string>{"10.1.0.2"});
}

TEST_CASE("agent dns: upstreams are the IPv4 nameservers of resolv.conf") {
    test::TempDir dir;
    std::ofstream(dir.path() / "resolv.conf") << "# generated\nsearch example.com\n"
                                                 "nameserver 192.0.2.53\n"
                                                 "nameserver 2001:db8::53\n"
                                                 "  nameserver   198.51.100.1  # second\n"
                                                 ";nameserver 203.0.113.9\n"
                                                 "options edns0\n";
    CHECK(read_upstreams(dir.path() / "resolv.conf") ==
          std::vector<std::string>{"192.0.2.53", "198.51.100.1"});
    CHECK(read_upstreams(dir.path() / "missing").empty());
    EventLoop loop;
    CHECK_THROWS_AS(DnsServer(loop, {"dns.example"}), InvalidDnsConfig);
    CHECK_THROWS_AS(DnsServer(loop, {"192.0.2.53:99999"}), InvalidDnsConfig);
}

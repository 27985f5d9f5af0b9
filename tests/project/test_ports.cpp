#include "common/strings.hpp"
#include "project/ports.hpp"
#include "support/invalid_message.hpp"

#include <doctest/doctest.h>

using namespace lcloud;
using namespace lcloud::project;

static std::string port_error(std::string_view spec) {
    return test::invalid_message([&] { parse_port_spec(spec); });
}

TEST_CASE("port specs: Compose's short syntax") {
    auto port = parse_port_spec("8080:80");
    CHECK(port.host_ip == "127.0.0.1");
    CHECK(port.host_start == 8080);
    CHECK(port.host_end == 8080);
    CHECK(port.container_start == 80);
    CHECK(port.protocol == Protocol::tcp);

    port = parse_port_spec("127.0.0.1:5353:53/udp");
    CHECK(port.host_start == 5353);
    CHECK(port.container_start == 53);
    CHECK(port.protocol == Protocol::udp);

    port = parse_port_spec("9000-9002:9000-9002");
    CHECK(port.host_end == 9002);
    CHECK(port.container_end == 9002);

    port = parse_port_spec("3000");
    CHECK(port.host_start == 0);
    CHECK(port.container_start == 3000);

    port = parse_port_spec("0.0.0.0::80");
    CHECK(port.host_ip == "0.0.0.0");
    CHECK(port.host_start == 0);

    port = parse_port_spec("[::1]:8080:80/TCP");
    CHECK(port.host_ip == "::1");
    CHECK(port.host_start == 8080);
    CHECK(format_port_mapping(port) == "[::1]:8080:80/tcp");
}

TEST_CASE("port specs: errors say what is right") {
    CHECK(port_error("9000-9002:80") ==
          "port '9000-9002:80' maps 3 host ports to 1 container port; the ranges must be of "
          "equal length");
    CHECK(port_error("70000:80") == "invalid port '70000': a port is a number from 1 to 65535");
    CHECK(port_error("80:80/sctp") ==
          "invalid protocol 'sctp' in port '80:80/sctp': expected tcp or udp");
    CHECK(port_error("300.1.1.1:80:80") ==
          "invalid host address '300.1.1.1' in port '300.1.1.1:80:80': expected an IPv4 or IPv6 "
          "address such as 127.0.0.1 or 0.0.0.0");
    CHECK(port_error("9002-9000:80").starts_with("invalid port range '9002-9000'"));
    CHECK(port_error("a:b:c:d").starts_with("invalid port 'a:b:c:d': expected"));
    CHECK(port_error("[::1:80:80").starts_with("invalid port '[::1:80:80': an IPv6"));
    CHECK(port_error("").starts_with("empty port"));
}

TEST_CASE("host ports overlap on the same protocol and overlapping addresses") {
    const auto a = parse_port_spec("8080:80");
    CHECK(host_ports_overlap(a, parse_port_spec("8080:81")));
    CHECK(host_ports_overlap(a, parse_port_spec("0.0.0.0:8080:81")));
    CHECK(host_ports_overlap(a, parse_port_spec("8079-8081:1-3")));
    CHECK_FALSE(host_ports_overlap(a, parse_port_spec("8080:80/udp")));
    CHECK_FALSE(host_ports_overlap(a, parse_port_spec("127.0.0.2:8080:80")));
    CHECK_FALSE(host_ports_overlap(a, parse_port_spec("8081:80")));
    CHECK_FALSE(host_ports_overlap(parse_port_spec("80"), parse_port_spec("80")));
}

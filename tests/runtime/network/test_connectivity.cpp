// Traffic through the networks: TCP between namespaces attached as containers would be.

#include "runtime/network/network.hpp"

#include "network_support.hpp"
#include "support/run_command.hpp"

#include <doctest/doctest.h>

using namespace lcloud::test::network;
using lcloud::test::run_command;
namespace net = lcloud::runtime::network;

TEST_CASE("network: containers of one network reach each other and the gateway; containers of "
          "two networks do not") {
    NetworkFixture fixture(net::Subnet::parse("10.205.0.0/16"));
    const std::string first = fixture.name("reach");
    const std::string second = fixture.name("reach");
    fixture.networks.ensure(first);
    fixture.networks.ensure(second);

    NetnsProcess web, client, stranger;
    const net::Attachment web_at = fixture.networks.attach(first, "web", web.pid());
    const net::Attachment client_at = fixture.networks.attach(first, "client", client.pid());
    const net::Attachment stranger_at = fixture.networks.attach(second, "stranger", stranger.pid());
    CHECK(client_at.address != web_at.address);
    const uint16_t port = 8080;

    SUBCASE("same network: data goes through") {
        auto listener = start_listener(web.pid(), net::Ipv4{0}, port, "hello web", 3000);
        CHECK(connect_from(client.pid(), web_at.address, port, "hello web", 2000) == tcp_ok);
        CHECK(listener->wait() == tcp_ok);
    }
    SUBCASE("the gateway, an address of the host, answers") {
        const uint16_t host_port = static_cast<uint16_t>(20000 + ::getpid() % 20000);
        auto listener = start_listener(0, web_at.gateway, host_port, "hello host", 3000);
        CHECK(connect_from(web.pid(), web_at.gateway, host_port, "hello host", 2000) == tcp_ok);
        CHECK(listener->wait() == tcp_ok);
    }
    SUBCASE("another network: nothing goes through, either way") {
        auto listener = start_listener(web.pid(), net::Ipv4{0}, port, "intrusion", 3000);
        const int result = connect_from(stranger.pid(), web_at.address, port, "intrusion", 1000);
        CHECK((result == tcp_timeout || result == tcp_refused));
        // The same listener still takes a connection from its own network: the path was there.
        CHECK(connect_from(client.pid(), web_at.address, port, "intrusion", 2000) == tcp_ok);
        CHECK(listener->wait() == tcp_ok);

        auto stranger_listener =
            start_listener(stranger.pid(), net::Ipv4{0}, port, "intrusion", 3000);
        const int back = connect_from(web.pid(), stranger_at.address, port, "intrusion", 1000);
        CHECK((back == tcp_timeout || back == tcp_refused));
    }
}

TEST_CASE("network: a container reaches the outside masqueraded; the outside cannot open "
          "connections to it") {
    // "Outside": a namespace behind a veth of the host, with no route to the container subnet
    // unless given one; replies reach a container only because its traffic leaves as the host.
    NetnsProcess outside;
    LinkGuard uplink("lctestout0");
    const auto ip = [&](const std::string& arguments) {
        return run_command("nsenter --net=" + outside.netns_path() + " ip " + arguments);
    };
    REQUIRE(run_command(fmt::format("ip link add lctestout0 type veth peer name eth0 netns {}",
                                    outside.pid()))
                .exit_code == 0);
    REQUIRE(run_command("ip addr add 10.207.0.1/24 dev lctestout0").exit_code == 0);
    REQUIRE(run_command("ip link set lctestout0 up").exit_code == 0);
    REQUIRE(ip("addr add 10.207.0.2/24 dev eth0").exit_code == 0);
    REQUIRE(ip("link set eth0 up").exit_code == 0);
    REQUIRE(ip("link set lo up").exit_code == 0);

    NetworkFixture fixture(net::Subnet::parse("10.205.0.0/16"));
    const std::string name = fixture.name("nat");
    fixture.networks.ensure(name);
    NetnsProcess container;
    const net::Attachment attachment = fixture.networks.attach(name, "c", container.pid());
    const net::Ipv4 outside_address = net::Ipv4::parse("10.207.0.2");
    const uint16_t port = 8081;

    {
        auto listener = start_listener(outside.pid(), outside_address, port, "out", 3000,
                                       net::Ipv4::parse("10.207.0.1"));
        CHECK(connect_from(container.pid(), outside_address, port, "out", 2000) == tcp_ok);
        CHECK(listener->wait() == tcp_ok);
    }
    {
        REQUIRE(ip("route add 10.205.0.0/16 via 10.207.0.1").exit_code == 0);
        auto listener = start_listener(container.pid(), net::Ipv4{0}, port, "in", 3000);
        const int result = connect_from(outside.pid(), attachment.address, port, "in", 1000);
        CHECK((result == tcp_timeout || result == tcp_refused));
    }
}

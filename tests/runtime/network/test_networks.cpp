// Networks against the real kernel: bridges, addresses, nftables chains, veths, the plan.

#include "runtime/network/network.hpp"
#include "support/run_command.hpp"

#include "network_support.hpp"

#include <doctest/doctest.h>
#include <fmt/format.h>

#include <algorithm>

using namespace lcloud::test::network;
using lcloud::test::run_command;
namespace net = lcloud::runtime::network;

namespace {

bool contains_chain(const std::vector<std::string>& chains, const std::string& name) {
    return std::find(chains.begin(), chains.end(), name) != chains.end();
}

// The rules of the network's chains, as nft prints them.
std::string chain_text(const std::string& chain) {
    return run_command("nft list chain inet lcloud " + chain).output;
}

} // namespace

TEST_CASE("network: ensure makes the bridge, its address and the nftables chains; again it "
          "changes nothing; it repairs what was deleted") {
    NetworkFixture fixture(net::Subnet::parse("10.201.0.0/16"));
    const std::string name = fixture.name("ensure");
    const net::NetworkInfo network = fixture.networks.ensure(name);

    CHECK(network.name == name);
    CHECK(network.bridge.rfind("lcbr-", 0) == 0);
    CHECK(network.bridge.size() == 13);
    CHECK(network.subnet.prefix == 24);
    CHECK(net::Subnet::parse("10.201.0.0/16").contains(network.subnet.base));
    const std::string gateway = network.subnet.gateway().to_string();

    const auto bridge = interface_json(network.bridge);
    REQUIRE(!bridge.is_null());
    CHECK(has_address(bridge, gateway, 24));
    CHECK(is_up(bridge));
    CHECK(command_json("ip -j -d link show dev " + network.bridge)[0]["linkinfo"]["info_kind"] ==
          "bridge");
    CHECK(read_ip_forward() == "1");

    const std::string nat = network.bridge + "-nat";
    const std::string forward = network.bridge + "-forward";
    const std::string nat_rules = chain_text(nat);
    CHECK(nat_rules.find("hook postrouting") != std::string::npos);
    CHECK(nat_rules.find(fmt::format("ip saddr {} oifname != \"{}\" masquerade",
                                     network.subnet.to_string(), network.bridge)) !=
          std::string::npos);
    const std::string forward_rules = chain_text(forward);
    CHECK(forward_rules.find("hook forward") != std::string::npos);
    CHECK(forward_rules.find(fmt::format("iifname \"{0}\" oifname \"lcbr-*\" oifname != \"{0}\" "
                                         "drop",
                                         network.bridge)) != std::string::npos);
    CHECK(forward_rules.find(fmt::format("iifname \"{}\" accept", network.bridge)) !=
          std::string::npos);
    CHECK(forward_rules.find(fmt::format("oifname \"{}\" ct state established,related accept",
                                         network.bridge)) != std::string::npos);
    const nlohmann::json nat_before = chain_rules(nat);
    const nlohmann::json forward_before = chain_rules(forward);
    REQUIRE(nat_before.size() == 1);
    REQUIRE(forward_before.size() == 6);

    SUBCASE("a second ensure changes nothing") {
        const net::NetworkInfo again = fixture.networks.ensure(name);
        CHECK(again.subnet == network.subnet);
        CHECK(again.bridge == network.bridge);
        CHECK(chain_rules(nat) == nat_before);
        CHECK(chain_rules(forward) == forward_before);
        const auto addresses = interface_json(network.bridge)["addr_info"];
        CHECK(std::count_if(addresses.begin(), addresses.end(), [](const auto& info) {
                  return info.value("family", "") == "inet";
              }) == 1);
        CHECK(fixture.networks.list().size() == 1);
    }
    SUBCASE("a bridge deleted by hand and flushed rules are rebuilt") {
        REQUIRE(run_command("ip link del " + network.bridge).exit_code == 0);
        REQUIRE(run_command("nft flush chain inet lcloud " + forward).exit_code == 0);
        REQUIRE(run_command("nft delete chain inet lcloud " + nat).exit_code == 0);
        REQUIRE(interface_json(network.bridge).is_null());

        const net::NetworkInfo repaired = fixture.networks.ensure(name);
        CHECK(repaired.subnet == network.subnet);
        const auto rebuilt = interface_json(network.bridge);
        CHECK(has_address(rebuilt, gateway, 24));
        CHECK(is_up(rebuilt));
        CHECK(chain_rules(nat) == nat_before);
        CHECK(chain_rules(forward) == forward_before);
    }
    SUBCASE("a bridge set down by hand is set up again") {
        REQUIRE(run_command("ip link set " + network.bridge + " down").exit_code == 0);
        REQUIRE(!is_up(interface_json(network.bridge)));
        fixture.networks.ensure(name);
        CHECK(is_up(interface_json(network.bridge)));
    }
}

TEST_CASE("network: the subnet skips host addresses, host routes and the plan's networks; an "
          "exhausted pool is named") {
    // This kernel has no dummy interfaces; an empty bridge holds an address or a route as well.
    LinkGuard with_address("lctestclash0");
    LinkGuard with_route("lctestclash1");
    REQUIRE(run_command("ip link add lctestclash0 type bridge").exit_code == 0);
    // Down, so it has the address but no route for it.
    REQUIRE(run_command("ip addr add 10.202.0.77/24 dev lctestclash0").exit_code == 0);
    REQUIRE(run_command("ip link add lctestclash1 type bridge").exit_code == 0);
    REQUIRE(run_command("ip link set lctestclash1 up").exit_code == 0);
    REQUIRE(run_command("ip route add 10.202.1.0/24 dev lctestclash1").exit_code == 0);
    REQUIRE(run_command("ip -4 route show 10.202.0.0/24").output.empty());

    NetworkFixture fixture(net::Subnet::parse("10.202.0.0/22"));
    const std::string first = fixture.name("clash");
    const std::string second = fixture.name("clash");
    CHECK(fixture.networks.ensure(first).subnet.to_string() == "10.202.2.0/24");
    CHECK(fixture.networks.ensure(second).subnet.to_string() == "10.202.3.0/24");

    const std::string third = fixture.name("clash");
    CHECK_THROWS_WITH_AS(fixture.networks.ensure(third),
                         doctest::Contains("no free subnet left in pool 10.202.0.0/22"),
                         net::NetworkError);
    CHECK(!fixture.networks.find(third));

    // Released subnets are handed out again.
    fixture.networks.remove(first);
    CHECK(fixture.networks.ensure(third).subnet.to_string() == "10.202.2.0/24");
}

TEST_CASE("network: attach gives the namespace eth0, lo and a default route; detach and remove "
          "leave nothing") {
    NetworkFixture fixture(net::Subnet::parse("10.203.0.0/16"));
    const std::string name = fixture.name("life");
    const net::NetworkInfo network = fixture.networks.ensure(name);
    NetnsProcess container;

    const net::Attachment attachment = fixture.networks.attach(name, "c1", container.pid());
    CHECK(attachment.host_interface.rfind("lcv", 0) == 0);
    CHECK(attachment.host_interface.size() == 13);
    CHECK(attachment.address == net::Ipv4{network.subnet.base.value + 2});
    CHECK(attachment.gateway == network.subnet.gateway());
    CHECK(attachment.prefix == 24);

    const auto host_end = interface_json(attachment.host_interface);
    REQUIRE(!host_end.is_null());
    CHECK(host_end.value("master", "") == network.bridge);
    CHECK(is_up(host_end));
    const auto eth0 = interface_json("eth0", container.netns_path());
    CHECK(has_address(eth0, attachment.address.to_string(), 24));
    const uint32_t ip = attachment.address.value;
    CHECK(eth0.value("address", "") == fmt::format("02:42:{:02x}:{:02x}:{:02x}:{:02x}", ip >> 24,
                                                   (ip >> 16) & 0xff, (ip >> 8) & 0xff, ip & 0xff));
    CHECK(is_up(eth0));
    CHECK(is_up(interface_json("lo", container.netns_path())));
    const auto routes =
        command_json("nsenter --net=" + container.netns_path() + " ip -j route show default");
    REQUIRE(routes.is_array());
    REQUIRE(routes.size() == 1);
    CHECK(routes[0].value("gateway", "") == attachment.gateway.to_string());
    CHECK(routes[0].value("dev", "") == "eth0");

    SUBCASE("the same container in a new process: the old pair goes, the address stays") {
        NetnsProcess restarted;
        const net::Attachment again = fixture.networks.attach(name, "c1", restarted.pid());
        CHECK(again.address == attachment.address);
        CHECK(again.host_interface == attachment.host_interface);
        CHECK(interface_json("eth0", container.netns_path()).is_null());
        const auto eth0_again = interface_json("eth0", restarted.netns_path());
        CHECK(has_address(eth0_again, attachment.address.to_string(), 24));
        // The same MAC too (02:42 and the address), or neighbours would keep the old one.
        CHECK(eth0_again.value("address", "") == eth0.value("address", "x"));
        CHECK(interface_json(attachment.host_interface).value("master", "") == network.bridge);
    }
    SUBCASE("a bridge deleted under a running container: ensure takes its veth back") {
        REQUIRE(run_command("ip link del " + network.bridge).exit_code == 0);
        REQUIRE(interface_json(attachment.host_interface).value("master", "") == "");
        fixture.networks.ensure(name);
        const auto port = interface_json(attachment.host_interface);
        CHECK(port.value("master", "") == network.bridge);
        CHECK(is_up(port));
    }
    SUBCASE("detach removes the veth and frees the address; twice is fine") {
        fixture.networks.detach(name, "c1");
        CHECK(!link_exists(attachment.host_interface));
        CHECK(interface_json("eth0", container.netns_path()).is_null());
        CHECK(fixture.networks.find(name)->addresses.empty());
        CHECK_NOTHROW(fixture.networks.detach(name, "c1"));
    }
    SUBCASE("remove takes the bridge, the veths, the chains and the plan entry; twice is fine") {
        const std::vector<std::string> chains = lcloud_chains();
        const bool only_ours = std::all_of(chains.begin(), chains.end(), [&](const auto& chain) {
            return chain.rfind(network.bridge, 0) == 0;
        });
        fixture.networks.remove(name);
        CHECK(!link_exists(network.bridge));
        CHECK(!link_exists(attachment.host_interface));
        CHECK(!contains_chain(lcloud_chains(), network.bridge + "-nat"));
        CHECK(!contains_chain(lcloud_chains(), network.bridge + "-forward"));
        // Another network on this machine (someone else's test, an agent) keeps the table.
        if (only_ours) CHECK(!lcloud_table_exists());
        CHECK(!fixture.networks.find(name));
        CHECK(fixture.networks.list().empty());
        CHECK_NOTHROW(fixture.networks.remove(name));
    }
}

TEST_CASE("network: attach refuses what it cannot do and keeps no address for it") {
    NetworkFixture fixture(net::Subnet::parse("10.204.0.0/16"));
    const std::string name = fixture.name("refuse");

    NetnsProcess container;
    CHECK_THROWS_WITH_AS(fixture.networks.attach(name, "c1", container.pid()),
                         doctest::Contains("ensure the network first"), net::NetworkError);
    fixture.networks.ensure(name);

    pid_t gone = 0;
    {
        auto child = run_child(0, [] { return 0; });
        gone = child->pid();
        REQUIRE(child->wait() == 0);
    }
    const std::string gone_message =
        fmt::format("container c2: process {} is gone (/proc/{}/ns/net", gone, gone);
    CHECK_THROWS_WITH_AS(fixture.networks.attach(name, "c2", gone),
                         doctest::Contains(gone_message.c_str()), net::NetworkError);
    CHECK_THROWS_WITH_AS(fixture.networks.attach(name, "c3", ::getpid()),
                         doctest::Contains("shares the host's network namespace"),
                         net::NetworkError);
    CHECK(fixture.networks.find(name)->addresses.empty());
    // None of the failed attempts kept an address: the first container gets the first one.
    CHECK(fixture.networks.attach(name, "c1", container.pid()).address ==
          net::Ipv4{fixture.networks.find(name)->subnet.base.value + 2});

    // A bridge deleted under a network: attach says how to repair it.
    REQUIRE(run_command("ip link del " + fixture.networks.find(name)->bridge).exit_code == 0);
    NetnsProcess other;
    CHECK_THROWS_WITH_AS(fixture.networks.attach(name, "c4", other.pid()),
                         doctest::Contains("ensure the network to rebuild it"), net::NetworkError);
}

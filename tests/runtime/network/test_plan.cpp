// The address plan: subnet and address choice, names, the JSON file and its lock.

#include "runtime/network/network.hpp"
#include "runtime/network/plan.hpp"
#include "state/atomic_file.hpp"
#include "support/temp_dir.hpp"

#include "network_support.hpp"

#include <doctest/doctest.h>

#include <fstream>

using namespace lcloud::test::network;
namespace net = lcloud::runtime::network;

TEST_CASE("network: subnets and addresses are parsed and compared") {
    CHECK(net::Ipv4::parse("10.89.3.7").value == ((10u << 24) | (89u << 16) | (3u << 8) | 7u));
    CHECK(net::Ipv4{0x0a590307}.to_string() == "10.89.3.7");
    CHECK_THROWS_AS(net::Ipv4::parse("10.89.3"), net::NetworkError);
    CHECK(net::Subnet::parse("10.89.0.0/16").to_string() == "10.89.0.0/16");
    CHECK_THROWS_WITH_AS(net::Subnet::parse("10.89.0.1/24"), doctest::Contains("10.89.0.0/24"),
                         net::NetworkError);
    CHECK_THROWS_AS(net::Subnet::parse("10.89.0.0"), net::NetworkError);
    CHECK_THROWS_AS(net::Subnet::parse("10.89.0.0/33"), net::NetworkError);
    const auto pool = net::Subnet::parse("10.89.0.0/16");
    CHECK(pool.overlaps(net::Subnet::parse("10.89.7.0/24")));
    CHECK(net::Subnet::parse("10.89.7.0/24").overlaps(pool));
    CHECK(!pool.overlaps(net::Subnet::parse("10.90.0.0/24")));
    CHECK(pool.contains(net::Ipv4::parse("10.89.255.255")));
    CHECK(!pool.contains(net::Ipv4::parse("10.90.0.0")));
    CHECK(pool.size() == 65536);
}

TEST_CASE("network: the plan chooses the first free /24 and the lowest free address") {
    const auto pool = net::Subnet::parse("10.89.0.0/16");
    CHECK(net::choose_subnet(pool, {})->to_string() == "10.89.0.0/24");
    CHECK(net::choose_subnet(pool, {net::Subnet::parse("10.89.0.128/25"),
                                    net::Subnet::parse("10.89.1.5/32"),
                                    net::Subnet::parse("192.168.0.0/16")})
              ->to_string() == "10.89.2.0/24");
    CHECK(!net::choose_subnet(pool, {net::Subnet::parse("10.0.0.0/8")}));
    CHECK(net::choose_subnet(net::Subnet::parse("10.89.0.0/26"), {})->to_string() ==
          "10.89.0.0/26");

    net::NetworkInfo network;
    network.subnet = net::Subnet::parse("10.89.4.0/24");
    CHECK(net::choose_address(network)->to_string() == "10.89.4.2");
    network.addresses["a"] = net::Ipv4::parse("10.89.4.2");
    network.addresses["b"] = net::Ipv4::parse("10.89.4.4");
    CHECK(net::choose_address(network)->to_string() == "10.89.4.3");
    network.subnet = net::Subnet::parse("10.89.4.0/30"); // .2 is its only host besides .1
    CHECK(!net::choose_address(network));

    CHECK(net::bridge_name("myproject_default") == net::bridge_name("myproject_default"));
    CHECK(net::bridge_name("myproject_default") != net::bridge_name("myproject_other"));
    CHECK(net::bridge_name("x").size() == 13);
    CHECK(net::host_veth_name("n", "c1") != net::host_veth_name("n", "c2"));
    CHECK(net::host_veth_name("n", "c1").size() == 13);
}

TEST_CASE("network: the plan file round-trips and a damaged one is named") {
    net::Plan plan;
    net::NetworkInfo network{
        "p_default", net::bridge_name("p_default"), net::Subnet::parse("10.89.1.0/24"), {}};
    network.addresses["abc"] = net::Ipv4::parse("10.89.1.2");
    plan.networks.emplace(network.name, network);
    const net::Plan back = net::plan_from_json(net::plan_to_json(plan), "test");
    REQUIRE(back.networks.size() == 1);
    const net::NetworkInfo& read = back.networks.at("p_default");
    CHECK(read.bridge == network.bridge);
    CHECK(read.subnet == network.subnet);
    CHECK(read.addresses == network.addresses);

    lcloud::test::TempDir dir;
    lcloud::state::write_file_atomic(dir.path() / "networks.json", "{\"version\": 1, \"netw");
    const net::Networks networks(net::PlanOptions{dir.path()});
    const std::string damaged = (dir.path() / "networks.json").string() + " is damaged";
    CHECK_THROWS_WITH_AS(networks.list(), doctest::Contains(damaged.c_str()), net::NetworkError);
    const std::string expected_bridge = "expected \"" + net::bridge_name("n") + "\"";
    CHECK_THROWS_WITH_AS(
        net::plan_from_json(R"({"version": 1, "networks": {"n": {"bridge": "lcbr-00000000",
            "subnet": "10.89.0.0/24", "addresses": {}}}})",
                            "f"),
        doctest::Contains(expected_bridge.c_str()), net::NetworkError);
    CHECK_THROWS_WITH_AS(net::plan_from_json(R"({"version": 1, "networks": {"n": {"bridge": "x",
            "subnet": "10.89.0.0/99", "addresses": {}}}})",
                                             "f"),
                         doctest::Contains("10.89.0.0/99"), net::NetworkError);

    // Nothing there yet: nothing to find, and no directory made for it.
    const net::Networks empty(net::PlanOptions{dir.path() / "absent"});
    CHECK(empty.list().empty());
    CHECK(!empty.find("n"));
    CHECK(!std::filesystem::exists(dir.path() / "absent"));
    CHECK_THROWS_AS(net::Networks(net::PlanOptions{dir.path(), net::Subnet{net::Ipv4{1}, 16}}),
                    net::NetworkError);
}

TEST_CASE("network: two Networks on one state directory, in two processes at once, get "
          "different subnets; a container keeps its address") {
    NetworkFixture fixture(net::Subnet::parse("10.206.0.0/16"));
    const std::string first = fixture.name("plan");
    const std::string second = fixture.name("plan");

    // Each child ensures one network through its own Networks; the lock keeps them apart.
    std::vector<std::unique_ptr<Worker>> children;
    for (const std::string& name : {first, second})
        children.push_back(run_child(0, [&] {
            net::Networks own(fixture.options);
            own.ensure(name);
            return 0;
        }));
    for (auto& child : children)
        CHECK(child->wait(std::chrono::seconds(10)) == 0);
    net::Networks other(fixture.options);
    const auto one = other.find(first);
    const auto two = fixture.networks.find(second);
    REQUIRE(one);
    REQUIRE(two);
    CHECK(!one->subnet.overlaps(two->subnet));
    CHECK(other.list().size() == 2);

    NetnsProcess a, b;
    const net::Ipv4 base = one->subnet.base;
    CHECK(fixture.networks.attach(first, "a", a.pid()).address == net::Ipv4{base.value + 2});
    CHECK(other.attach(first, "b", b.pid()).address == net::Ipv4{base.value + 3});
    // Attached again (a restarted container), it keeps its address.
    CHECK(other.attach(first, "a", a.pid()).address == net::Ipv4{base.value + 2});
    fixture.networks.detach(first, "a");
    NetnsProcess c;
    CHECK(other.attach(first, "c", c.pid()).address == net::Ipv4{base.value + 2});

    const auto plan = nlohmann::json::parse(
        *lcloud::state::read_file(fixture.options.state_dir / "networks.json"));
    const auto& addresses = plan["networks"][first]["addresses"];
    CHECK(addresses.size() == 2);
    CHECK(addresses.value("b", "") == net::Ipv4{base.value + 3}.to_string());
    CHECK(addresses.value("c", "") == net::Ipv4{base.value + 2}.to_string());
    CHECK(plan["networks"][second]["subnet"] == two->subnet.to_string());
}

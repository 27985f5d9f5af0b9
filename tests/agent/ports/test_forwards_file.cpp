#include "agent/ports/forwards_file.hpp"

#include <doctest/doctest.h>

using namespace lcloud::agent;

TEST_CASE("forwarder: forwards.json round-trips, 127.0.0.1 by default") {
    const ForwardsFile file{"192.168.122.10",
                            {{Protocol::tcp, "", 8080, 80}, {Protocol::udp, "0.0.0.0", 5353, 53}}};
    const auto parsed = parse_forwards_file(to_json(file).dump(), "forwards.json");
    CHECK(parsed == normalized(file));
    CHECK(parsed.forwards[0].host_ip == "127.0.0.1");
    const auto targets = forwarder_targets(parsed);
    REQUIRE(targets.size() == 2);
    CHECK(targets[1] == Forward{Protocol::udp, "0.0.0.0", 5353, "192.168.122.10", 53});
}

TEST_CASE("forwarder: a forwards.json that is wrong says where and why") {
    CHECK_THROWS_WITH_AS(parse_forwards_file("{", "f.json"), "f.json: not JSON",
                         InvalidForwardsFile);
    CHECK_THROWS_WITH_AS(
        parse_forwards_file(R"({"vm_address": "10.0.0.2", "forwards": [{"protocol": "sctp",
            "host_port": 1, "guest_port": 1}]})",
                            "f.json"),
        R"(f.json: protocol "sctp" is neither "tcp" nor "udp")", InvalidForwardsFile);
    CHECK_THROWS_WITH_AS(
        parse_forwards_file(R"({"vm_address": "10.0.0.2", "forwards": [{"protocol": "tcp",
            "host_port": 70000, "guest_port": 1}]})",
                            "f.json"),
        R"(f.json: "host_port" must be a port number (1-65535), not 70000)", InvalidForwardsFile);
    CHECK_THROWS_AS(parse_forwards_file(R"({"forwards": []})", "f.json"), InvalidForwardsFile);
}

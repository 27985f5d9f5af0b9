// The protocol's encodings: base64 for stream data, and specs that survive JSON both ways.
#include "agent/protocol/protocol.hpp"
#include "agent/protocol/spec.hpp"

#include <doctest/doctest.h>

using namespace lcloud::agent;

TEST_CASE("agent protocol: base64 round-trips every length and byte") {
    std::string bytes;
    for (int i = 0; i < 300; ++i) {
        CHECK(base64_decode(base64_encode(bytes)) == bytes);
        bytes += static_cast<char>(i * 7);
    }
    CHECK(base64_encode("foobar") == "Zm9vYmFy");
    CHECK(base64_encode("fo") == "Zm8=");
    CHECK_THROWS_AS(base64_decode("Zm9v!"), AgentError);
}

TEST_CASE("agent protocol: a container spec survives JSON, optionals included") {
    ContainerSpec spec;
    spec.id = "env.node-1";
    spec.command = std::vector<std::string>{"sleep", "1"};
    spec.health = HealthSpec{{"CMD", "true"}, 1000, 500, 0, 2};
    spec.ports.push_back({"udp", "127.0.0.1", 5353, 53});
    spec.memory_bytes = 1 << 20;
    const nlohmann::json json = spec;
    const auto back = json.get<ContainerSpec>();
    CHECK(nlohmann::json(back) == json);
    CHECK_FALSE(back.entrypoint);
    REQUIRE(back.command);
    CHECK(back.command->at(0) == "sleep");
    CHECK(back.health->retries == 2);
    CHECK(back.ports.at(0).protocol == "udp");
    CHECK_FALSE(nlohmann::json(ContainerSpec{}).contains("health"));
}

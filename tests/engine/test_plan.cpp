// From the project model to what the agent runs: ids, order, names, ports, volumes, hashes.
#include "common/error.hpp"
#include "engine/plan.hpp"
#include "project/loader.hpp"
#include "support/temp_dir.hpp"

#include <doctest/doctest.h>

using namespace lcloud;

namespace {

project::Project parse(const std::string& text,
                       const std::filesystem::path& file = "/work/example/lcloud.yaml") {
    project::Diagnostics diagnostics("lcloud.yaml");
    auto project = project::parse_project(
        text, file, [](std::string_view) -> std::optional<std::string> { return std::nullopt; },
        diagnostics);
    std::string all;
    for (const auto& diagnostic : diagnostics.sorted())
        all += project::format(diagnostic) + "\n";
    INFO(all);
    REQUIRE_FALSE(diagnostics.has_errors());
    return project;
}

const char* const three_tier = R"(name: shop
provider: local
containers:
  web:
    image: web:1
    ports: ["8080:80", "127.0.0.2:9000-9001:9000-9001/udp"]
    depends_on:
      api: {condition: healthy}
    volumes: ["data:/var/data", "/tmp:/host-tmp:ro", "/scratch"]
  api:
    image: api:1
    replicas: 2
    depends_on: [db]
    healthcheck:
      test: ["CMD", "true"]
      interval: 2s
    restart: on-failure:3
  db:
    image: db:1
    restart: always
    memory: 64MiB
)";

} // namespace

TEST_CASE("engine plan: dependencies first, replicas as their own containers") {
    const auto project = parse(three_tier);
    const auto plan = engine::plan_containers(project);
    const std::string env = engine::environment_name(project);
    CHECK(env.rfind("shop-", 0) == 0);
    CHECK(env.size() == 11);
    REQUIRE(plan.size() == 4);
    CHECK(plan[0].spec.id == env + ".db");
    CHECK(plan[1].spec.id == env + ".api-1");
    CHECK(plan[2].spec.id == env + ".api-2");
    CHECK(plan[3].spec.id == env + ".web");
    CHECK(plan[1].spec.aliases == std::vector<std::string>{"api", "api-1"});
    CHECK(plan[0].spec.aliases == std::vector<std::string>{"db"});
    CHECK(plan[1].spec.restart == "on-failure");
    CHECK(plan[1].spec.max_retries == 3);
    REQUIRE(plan[1].spec.health);
    CHECK(plan[1].spec.health->interval_ms == 2000);
    CHECK(plan[0].spec.memory_bytes == 64u << 20);
    for (const auto& planned : plan)
        CHECK(planned.spec.network == env);
}

TEST_CASE("engine plan: port ranges expand and volumes belong to the environment") {
    const auto project = parse(three_tier);
    const auto plan = engine::plan_containers(project);
    const auto& web = plan.back().spec;
    REQUIRE(web.ports.size() == 3);
    CHECK(web.ports[0].host_ip == "127.0.0.1");
    CHECK(web.ports[0].host_port == 8080);
    CHECK(web.ports[0].container_port == 80);
    CHECK(web.ports[2].protocol == "udp");
    CHECK(web.ports[2].host_ip == "127.0.0.2");
    CHECK(web.ports[2].host_port == 9001);
    CHECK(web.ports[2].container_port == 9001);
    const std::string env = engine::environment_name(project);
    REQUIRE(web.mounts.size() == 3);
    CHECK(web.mounts[0].type == "volume");
    CHECK(web.mounts[0].source == env + "_data");
    CHECK(web.mounts[1].type == "bind");
    CHECK(web.mounts[1].read_only);
    CHECK(web.mounts[2].type == "volume");
    CHECK(web.mounts[2].source == env + "_web-anon1");
}

TEST_CASE("engine plan: selecting a service brings its dependencies") {
    const auto plan = engine::plan_containers(parse(three_tier));
    const auto api = engine::select_services(plan, {"api"});
    REQUIRE(api.size() == 3);
    CHECK(api[0].spec.service == "db");
    CHECK(api[2].spec.service == "api");
    CHECK_THROWS_AS(engine::select_services(plan, {"nope"}), UsageError);
}

TEST_CASE("engine plan: the hash changes with the spec and with the image, not otherwise") {
    const auto plan = engine::plan_containers(parse(three_tier));
    auto spec = plan[0].spec;
    const std::string first = engine::config_hash(spec, "sha256:aaa");
    CHECK(first == engine::config_hash(spec, "sha256:aaa"));
    CHECK(first != engine::config_hash(spec, "sha256:bbb"));
    spec.config_hash = "anything";
    CHECK(first == engine::config_hash(spec, "sha256:aaa"));
    spec.env["X"] = "1";
    CHECK(first != engine::config_hash(spec, "sha256:aaa"));
}

TEST_CASE("engine plan: with no VM, a bind of a shared folder's guest path binds the host's") {
    test::TempDir dir;
    std::filesystem::create_directories(dir.path() / "src");
    std::filesystem::create_directories(dir.path() / "data");
    auto project = parse(R"(name: shop
provider: local
shared_folders:
  - {host: ./src, guest: /lcloud/src, readonly: true}
  - {host: ./data, guest: /lcloud/data}
containers:
  web:
    image: web:1
    volumes: ["/lcloud/src:/srv/src", "/lcloud/data/cache:/cache", "/lcloud/srcx:/other"]
)",
                         dir.path() / "lcloud.yaml");
    const auto plan = engine::plan_containers(project);
    REQUIRE(plan.size() == 1);
    const auto& mounts = plan[0].spec.mounts;
    REQUIRE(mounts.size() == 3);
    CHECK(mounts[0].source == (dir.path() / "src").string());
    CHECK(mounts[0].read_only);
    CHECK(mounts[1].source == (dir.path() / "data/cache").string());
    CHECK_FALSE(mounts[1].read_only);
    // Only whole path components match.
    CHECK(mounts[2].source == "/lcloud/srcx");

    project.provider = project::Provider::libvirt;
    project.containers[0].volumes.pop_back(); // not shared: the VM cannot reach it
    CHECK(engine::plan_containers(project)[0].spec.mounts[0].source == "/lcloud/src");
}

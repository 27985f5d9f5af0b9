// Provider libvirt's side of the plan: bind mounts through the shared folders into the VM, the
// published ports the VM binds and the host forwards them from.
#include "common/error.hpp"
#include "engine/plan.hpp"
#include "project/loader.hpp"
#include "support/temp_dir.hpp"

#include <doctest/doctest.h>

using namespace lcloud;

namespace {

project::Project parse(const std::string& text, const std::filesystem::path& file) {
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

std::string plan_error(const project::Project& project) {
    try {
        engine::plan_containers(project);
    } catch (const Error& error) {
        return error.what();
    }
    return "";
}

} // namespace

TEST_CASE("engine plan vm: binds of shared host paths become their guest paths") {
    test::TempDir dir;
    std::filesystem::create_directories(dir.path() / "src" / "app");
    std::filesystem::create_directories(dir.path() / "data");
    std::filesystem::create_directories(dir.path() / "srcx");
    auto project = parse(R"(name: shop
shared_folders:
  - {host: ./src, guest: /lcloud/src, readonly: true}
  - {host: ./data, guest: /mnt/data/}
containers:
  web:
    image: web:1
    volumes:
      - ./src/app:/srv/app
      - ./data:/data
      - /lcloud/src:/srv/src:ro
      - /mnt/data/cache:/cache
      - cache:/var/cache
      - /tmp/x
)",
                         dir.path() / "lcloud.yaml");
    REQUIRE(project.provider == project::Provider::libvirt);
    const auto plan = engine::plan_containers(project);
    REQUIRE(plan.size() == 1);
    const auto& mounts = plan[0].spec.mounts;
    REQUIRE(mounts.size() == 6);
    // A host path under a shared folder: its guest path, read-only as the folder is.
    CHECK(mounts[0].source == "/lcloud/src/app");
    CHECK(mounts[0].read_only);
    CHECK(mounts[1].source == "/mnt/data");
    CHECK_FALSE(mounts[1].read_only);
    // A guest path passes as it is.
    CHECK(mounts[2].source == "/lcloud/src");
    CHECK(mounts[2].read_only);
    CHECK(mounts[3].source == "/mnt/data/cache");
    // Volumes are the VM's own.
    CHECK(mounts[4].type == "volume");
    CHECK(mounts[5].type == "volume");

    SUBCASE("a host path no folder shares is an error naming it and shared_folders") {
        // Only whole path components match: ./srcx is not under ./src.
        project.containers[0].volumes[0].source = (dir.path() / "srcx").string();
        const std::string message = plan_error(project);
        CHECK(message.find("container web") != std::string::npos);
        CHECK(message.find((dir.path() / "srcx").string()) != std::string::npos);
        CHECK(message.find("shared_folders") != std::string::npos);
        CHECK(message.find("lcloud.yaml:") == 0);
    }
    SUBCASE("a guest-looking path that no folder mounts is an error too") {
        project.containers[0].volumes[0].source = "/lcloud/srcx";
        CHECK(plan_error(project).find("/lcloud/srcx") != std::string::npos);
    }
    SUBCASE("provider local keeps host paths") {
        project.provider = project::Provider::local;
        const auto local = engine::plan_containers(project)[0].spec.mounts;
        CHECK(local[0].source == (dir.path() / "src" / "app").string());
        CHECK(local[2].source == (dir.path() / "src").string());
    }
}

TEST_CASE("engine plan vm: ports bind 0.0.0.0 in the VM, and the host forwards each fixed one") {
    test::TempDir dir;
    auto project = parse(R"(name: shop
containers:
  web:
    image: web:1
    ports: ["8080:80", "192.168.1.5:8443:443", "9000-9001:9000-9001/udp", "3000"]
  admin:
    image: admin:1
    ports: ["127.0.0.2:8080:80", "127.0.0.2:9000:9000/udp"]
)",
                         dir.path() / "lcloud.yaml");
    const auto plan = engine::plan_containers(project);
    REQUIRE(plan.size() == 2);
    const auto& web = plan[0].spec.service == "web" ? plan[0].spec : plan[1].spec;
    const auto& admin = plan[0].spec.service == "web" ? plan[1].spec : plan[0].spec;
    REQUIRE(web.ports.size() == 5);
    for (const auto& port : web.ports)
        CHECK(port.host_ip == "0.0.0.0");
    CHECK(web.ports[0].host_port == 8080);
    CHECK(web.ports[0].container_port == 80);
    CHECK(web.ports[4].host_port == 0);

    const auto forwards = engine::host_forwards(project);
    // 8443 on its own address, the UDP range port by port, nothing for the port the agent
    // picks.
    // A number that another address has already gets a VM port of its own: the VM has one.
    const std::vector<engine::HostForward> expected{
        {"tcp", "127.0.0.1", 8080, 8080},  {"tcp", "192.168.1.5", 8443, 8443},
        {"udp", "127.0.0.1", 9000, 9000},  {"udp", "127.0.0.1", 9001, 9001},
        {"tcp", "127.0.0.2", 8080, 61000}, {"udp", "127.0.0.2", 9000, 61000}};
    CHECK(forwards == expected);
    REQUIRE(admin.ports.size() == 2);
    CHECK(admin.ports[0].host_port == 61000);
    CHECK(admin.ports[1].host_port == 61000);

    // What ps and port show: the host's side of each forward.
    std::vector<agent::ContainerStatus> containers(1);
    containers[0].ports = web.ports;
    engine::show_host_ports(project, containers);
    CHECK(containers[0].ports[0].host_ip == "127.0.0.1");
    CHECK(containers[0].ports[1].host_ip == "192.168.1.5");
    CHECK(containers[0].ports[4].host_ip == "0.0.0.0");
    containers[0].ports = admin.ports;
    engine::show_host_ports(project, containers);
    CHECK(containers[0].ports[0].host_ip == "127.0.0.2");
    CHECK(containers[0].ports[0].host_port == 8080);
    CHECK(containers[0].ports[1].protocol == "udp");
    CHECK(containers[0].ports[1].host_port == 9000);

    project.provider = project::Provider::local;
    CHECK(engine::host_forwards(project).empty());
    CHECK(engine::plan_containers(project)[0].spec.ports[0].host_ip == "127.0.0.1");
}

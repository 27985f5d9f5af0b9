// What a valid project file turns into: the model the engine will act on.
#include "project/loader.hpp"
#include "project/serialize.hpp"
#include "support/temp_dir.hpp"

#include <doctest/doctest.h>
#include <fstream>

namespace fs = std::filesystem;
using namespace lcloud;
using namespace lcloud::project;

namespace {

const fs::path corpus_project = fs::path(LCLOUD_TEST_DATA) / "project/corpus/project";

Project parse_corpus(const std::string& name) {
    std::ifstream in(fs::path(LCLOUD_TEST_DATA) / "project/corpus/valid" / name);
    const std::string text(std::istreambuf_iterator<char>(in), {});
    Diagnostics diagnostics("lcloud.yaml");
    auto project = parse_project(
        text, corpus_project / "lcloud.yaml",
        [](std::string_view name) -> std::optional<std::string> {
            if (name == "PORT") return std::string("8500");
            return std::nullopt;
        },
        diagnostics);
    REQUIRE_FALSE(diagnostics.has_errors());
    return project;
}

} // namespace

TEST_CASE("loader: every key of the full example lands in the model") {
    const auto project = parse_corpus("full.yaml");
    CHECK(project.name == "localcloud");
    CHECK(project.provider == Provider::libvirt);
    CHECK(project.vm.memory_bytes == 2 * GiB);
    CHECK(project.vm.disk_bytes == 20 * GiB);
    REQUIRE(project.shared_folders.size() == 1);
    CHECK(project.shared_folders[0].host == fs::weakly_canonical(corpus_project / "src"));
    CHECK(project.shared_folders[0].guest == "/lcloud/src");
    REQUIRE(project.containers.size() == 2);

    const auto& master = project.containers[0];
    CHECK(master.name == "master");
    CHECK(master.image == "localcloud/master:1");
    REQUIRE(master.build);
    CHECK(master.build->context == corpus_project / "images/web");
    CHECK(master.build->dockerfile == "Containerfile");
    CHECK(*master.command == std::vector<std::string>{"/usr/bin/master", "--port", "8500"});
    CHECK(*master.entrypoint == std::vector<std::string>{"/bin/sh", "-c"});
    CHECK(master.user == "1000:1000");
    CHECK(master.labels.at("team") == "ops");
    CHECK(master.environment.at("MASTER_PORT") == "8500");
    CHECK(master.environment.at("WEB_MODE") == "production"); // from web.env
    REQUIRE(master.ports.size() == 3);
    CHECK(master.ports[1].protocol == Protocol::udp);
    CHECK(master.ports[2].host_end == 9002);
    REQUIRE(master.volumes.size() == 3);
    CHECK(master.volumes[0].type == VolumeType::bind);
    CHECK(master.volumes[0].read_only);
    CHECK(master.volumes[1].type == VolumeType::volume);
    CHECK(master.volumes[2].type == VolumeType::tmpfs);
    REQUIRE(master.healthcheck);
    CHECK(master.healthcheck->interval == Duration(2000));
    CHECK(master.healthcheck->timeout == Duration(1000));
    CHECK(master.healthcheck->start_period == Duration(5000));
    CHECK(master.healthcheck->start_interval == Duration(250));
    CHECK(master.restart.kind == RestartKind::always);
    CHECK(*master.memory_bytes == 256 * MiB);
    CHECK(*master.cpus == doctest::Approx(0.5));

    const auto& node = project.containers[1];
    CHECK(node.replicas == 2);
    REQUIRE(node.depends_on.size() == 1);
    CHECK(node.depends_on[0].condition == DependencyCondition::healthy);
    CHECK(node.restart.kind == RestartKind::on_failure);
    CHECK(node.restart.max_retries == 3);
}

TEST_CASE("loader: Compose's long forms and merge keys") {
    const auto project = parse_corpus("compose_long_syntax.yaml");
    const auto& web = *project.find_container("web");
    CHECK(web.restart.kind == RestartKind::unless_stopped); // merged from x-defaults
    CHECK(web.stop_grace_period == Duration(90000));
    CHECK(web.image == project.name + "/web:latest");
    CHECK(web.build->args.at("VERSION") == "1");
    REQUIRE(web.ports.size() == 3);
    CHECK(web.ports[0].host_ip == "0.0.0.0");
    CHECK(web.ports[0].host_start == 8080);
    CHECK(web.ports[1].host_start == 0);
    CHECK(web.ports[2].host_ip == "::1");
    CHECK(web.volumes[0].read_only);
    CHECK(web.volumes[0].source == (corpus_project / "src").string());
    CHECK(web.volumes[1].source == "cache");
    CHECK(web.environment.at("EMPTY_VALUE").empty());
    CHECK(web.depends_on[0].condition == DependencyCondition::completed);
    const auto& db = *project.find_container("db");
    CHECK(db.healthcheck->test == std::vector<std::string>{"CMD-SHELL", "pg_isready"});
    CHECK(*db.command == std::vector<std::string>{"postgres", "-c", "max_connections=20"});
    CHECK(db.restart.kind == RestartKind::no);
}

TEST_CASE("loader: the default name comes from the project directory") {
    test::TempDir dir;
    const fs::path project_dir = dir.path() / "My Project_2";
    fs::create_directories(project_dir);
    std::ofstream(project_dir / "lcloud.yaml") << "containers: {web: {image: busybox}}\n";
    const auto project = load_project(project_dir / "lcloud.yaml", {});
    CHECK(project.name == "my-project-2");
    CHECK(project.vm.box == "lcloud/base");
    CHECK(project.vm.cpus == 2);
    CHECK(project.containers[0].stop_grace_period == Duration(10000));
}

TEST_CASE("loader: load_project throws every error at once, .env fills variables") {
    test::TempDir dir;
    std::ofstream(dir.path() / "lcloud.yaml")
        << "containers:\n  web:\n    image: busybox:${TAG}\n    memory: ${MEM}\n    prot: 1\n";
    std::ofstream(dir.path() / ".env") << "TAG=1.36\nMEM=huge\n";
    try {
        load_project(dir.path() / "lcloud.yaml", {"lcloud.yaml", {}});
        FAIL("expected a ProjectError");
    } catch (const ProjectError& error) {
        REQUIRE(error.diagnostics().size() == 2);
        CHECK(format(error.diagnostics()[0]) ==
              "lcloud.yaml:4:13: containers.web.memory: invalid size 'huge': expected a size such "
              "as 512MiB or 2GiB (a plain number is MiB; units: B, KiB, MiB, GiB, TiB)");
        CHECK(format(error.diagnostics()[1]) ==
              "lcloud.yaml:5:5: unknown key 'prot' in container 'web'; did you mean 'ports'?");
    }
}

TEST_CASE("serialize: config output reads back as the same project") {
    const auto project = parse_corpus("full.yaml");
    const auto yaml = to_yaml(to_json(project));
    CHECK(yaml.find("memory: 2GiB") != std::string::npos);
    CHECK(yaml.find("restart: always") != std::string::npos);
    CHECK(yaml.find("\"1000:1000\"") != std::string::npos); // quoted, or YAML reads a number
}

TEST_CASE("loader: 'containers: {}' is the VM alone; a missing 'containers' is an error") {
    const auto alone = parse_corpus("vm-alone.yaml");
    CHECK(alone.containers.empty());
    CHECK(alone.vm.memory_bytes == 1 * GiB);

    Diagnostics diagnostics("lcloud.yaml");
    parse_project(
        "name: slip\nvm:\n  memory: 1GiB\n", corpus_project / "lcloud.yaml",
        [](std::string_view) -> std::optional<std::string> { return std::nullopt; }, diagnostics);
    REQUIRE(diagnostics.has_errors());
}

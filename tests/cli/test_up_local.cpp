// `lcloud up` and friends for a provider-local project, as a user runs them: the real lcloud,
// lcloud-agent and runtime, on this host.
#include "agent/agent_fixture.hpp"
#include "agent/net_client.hpp"

#include "support/busybox_image.hpp"
#include "support/run_command.hpp"
#include "support/temp_dir.hpp"
#include <thread>

#include <doctest/doctest.h>
#include <fmt/format.h>
#include <fstream>
#include <netinet/in.h>
#include <sys/socket.h>

using namespace lcloud;
using namespace lcloud::test;

namespace {

const char* const project_text = R"(name: {name}
provider: local
vm:
  cpus: 1
containers:
  db:
    image: busybox:test
    command: ["sh", "-c", "sleep 0.5; touch /tmp/ok; exec sleep 3600"]
    healthcheck:
      test: ["CMD", "test", "-f", "/tmp/ok"]
      interval: 200ms
      retries: 2
      start_period: 3s
    stop_grace_period: 1s
  web:
    image: busybox:test
    command: ["sh", "-c", "echo web up; mkdir -p /www; echo hello > /www/index.html; exec httpd -f -p 80 -h /www"]
    ports: ["{port}:80"]
    depends_on:
      db: {{condition: healthy}}
    stop_grace_period: 1s
  node:
    image: busybox:test
    command: ["sleep", "3600"]
    replicas: 2
    stop_grace_period: 1s
)";

// The page at 127.0.0.1:port: up returns once a container runs, its server listens a moment
// later.
std::optional<std::string> page_at(uint16_t port) {
    for (int i = 0; i < 100; ++i) {
        if (auto page = tcp_exchange(port, "GET / HTTP/1.0\r\n\r\n")) return page;
        std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    return std::nullopt;
}

// A project directory and an lcloud whose agent lives under the test's own directory.
struct LocalProject {
    TempDir dir;
    uint16_t port = free_port();
    std::string prefix;

    std::string text;

    explicit LocalProject(const std::string& name, std::string text = project_text)
        : text(std::move(text)) {
        prefix = fmt::format("LCLOUD_AGENT_ROOT={0}/agent LCLOUD_AGENT_SOCKET={0}/agent.sock "
                             "LCLOUD_AGENT_NO_FSYNC=1 ",
                             dir.path().string());
        write(name, port);
    }
    ~LocalProject() {
        run("destroy");
        // The agent leaves once it has nothing to supervise.
        for (int i = 0; i < 100 && std::filesystem::exists(dir.path() / "agent.sock"); ++i)
            std::this_thread::sleep_for(std::chrono::milliseconds(50));
        clean_agent_root(dir.path() / "agent");
    }
    void write(const std::string& name, uint16_t host_port, const std::filesystem::path& at = {}) {
        const auto where = at.empty() ? dir.path() / "project" : at;
        std::filesystem::create_directories(where);
        std::ofstream(where / "lcloud.yaml")
            << fmt::format(fmt::runtime(text), fmt::arg("name", name), fmt::arg("port", host_port));
    }
    CommandResult run(const std::string& arguments, const std::filesystem::path& at = {}) {
        const auto where = at.empty() ? dir.path() / "project" : at;
        return run_command(prefix + lcloud_binary() + " -C " + where.string() + " " + arguments);
    }
};

// Halted containers give their host ports back.
bool port_is_free(uint16_t port) {
    Fd socket(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_port = htons(port);
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    return ::bind(socket.get(), reinterpret_cast<sockaddr*>(&address), sizeof address) == 0;
}

} // namespace

TEST_CASE("lcloud up (provider local): containers, names, ports, no-op, exec, logs, destroy") {
    LocalProject project("shop");
    static BusyboxTarball tarball;
    REQUIRE(
        project.run("image import --rootfs busybox:test " + tarball.path().string()).exit_code ==
        0);

    const auto up = project.run("up");
    INFO(up.output);
    REQUIRE(up.exit_code == 0);
    CHECK(up.output.find("vm section is ignored") != std::string::npos);
    CHECK(up.output.find(fmt::format("http://127.0.0.1:{}", project.port)) != std::string::npos);
    CHECK(up.output.find("waiting for db to be healthy") != std::string::npos);
    const auto page = page_at(project.port);
    REQUIRE(page);
    CHECK(page->find("hello") != std::string::npos);

    const auto again = project.run("up");
    CHECK(again.exit_code == 0);
    CHECK(again.output.find("nothing was restarted") != std::string::npos);
    CHECK(again.output.find("waiting for") == std::string::npos); // db is healthy already
    const auto ps = project.run("--json ps");
    const auto containers = nlohmann::json::parse(ps.output.substr(ps.output.find('[')));
    REQUIRE(containers.size() == 4);
    for (const auto& container : containers) {
        CHECK(container.at("state") == "running");
        CHECK(container.at("restarts") == 0);
    }

    CHECK(project.run("exec node-2 -- cat /etc/hostname").output == "node-2\n");
    CHECK(project.run("exec web -- sh -c 'exit 3'").exit_code == 3);
    // A terminal with -t; stdin with -i.
    CHECK(project.run("exec -t node-1 -- sh -c 'test -t 0 && test -t 1 && echo a terminal'")
              .output.find("a terminal") != std::string::npos);
    CHECK(project.run("exec node-1 -- sh -c 'test -t 1 || echo no terminal'").output ==
          "no terminal\n");
    CHECK(run_command("echo hello | " + project.prefix + lcloud_binary() + " -C " +
                      (project.dir.path() / "project").string() +
                      " exec -i node-1 -- sh -c 'read line; echo got $line'")
              .output == "got hello\n");
    CHECK(project.run("exec node -- nslookup web").output.find("Address") != std::string::npos);
    CHECK(project.run("logs web").output == "web up\n");
    CHECK(project.run("logs --tail 0 web").output.empty());
    CHECK(project.run("logs --tail 1 node").output.empty());
    CHECK(project.run("port web").output.find(std::to_string(project.port)) != std::string::npos);

    // Another project that wants the same host port is stopped before anything starts.
    const auto other = project.dir.path() / "other";
    project.write("other", project.port, other);
    const auto clash = project.run("up", other);
    CHECK(clash.exit_code != 0);
    CHECK(clash.output.find("already in use") != std::string::npos);
    CHECK(project.run("--json ps", other).output.find("running") == std::string::npos);

    const auto halted = project.run("halt");
    CHECK(halted.output.find("stopped 4 containers") != std::string::npos);
    CHECK_FALSE(tcp_exchange(project.port, "GET / HTTP/1.0\r\n\r\n", 500));
    CHECK(port_is_free(project.port));
    CHECK(project.run("up").exit_code == 0);
    CHECK(page_at(project.port).has_value());

    const auto destroyed = project.run("destroy");
    CHECK(destroyed.exit_code == 0);
    CHECK(destroyed.output.find("removed 4 containers") != std::string::npos);
    CHECK_FALSE(tcp_exchange(project.port, "GET / HTTP/1.0\r\n\r\n", 500));
    // Nothing of the environment stays beside its file, and a status does not bring it back.
    const auto state_dir = project.dir.path() / "project" / ".lcloud";
    CHECK_FALSE(std::filesystem::exists(state_dir));
    CHECK(project.run("status").exit_code == 0);
    CHECK_FALSE(std::filesystem::exists(state_dir));
}

namespace {

const char* const built_project_text = R"(name: {name}
provider: local
containers:
  web:
    build: ./web
    command: ["httpd", "-f", "-p", "80", "-h", "/www"]
    ports: ["{port}:80"]
    stop_grace_period: 1s
)";

} // namespace

TEST_CASE(
    "lcloud up (provider local): builds a service's image, rebuilds it when its files change") {
    LocalProject project("built", built_project_text);
    static BusyboxTarball tarball;
    REQUIRE(
        project.run("image import --rootfs busybox:test " + tarball.path().string()).exit_code ==
        0);
    const auto web = project.dir.path() / "project" / "web";
    std::filesystem::create_directories(web);
    std::ofstream(web / "Containerfile")
        << "FROM busybox:test\nCOPY index.html /www/index.html\nRUN echo stamped >> "
           "/www/index.html\n";
    std::ofstream(web / "index.html") << "first\n";

    const auto up = project.run("up");
    INFO(up.output);
    REQUIRE(up.exit_code == 0);
    CHECK(up.output.find("building built/web:latest") != std::string::npos);
    const auto page = page_at(project.port);
    REQUIRE(page);
    CHECK(page->find("first\nstamped") != std::string::npos);

    const auto again = project.run("up");
    CHECK(again.output.find("nothing was restarted") != std::string::npos);
    CHECK(again.output.find("2 from the cache") != std::string::npos);

    std::ofstream(web / "index.html") << "second\n";
    const auto changed = project.run("up");
    INFO(changed.output);
    CHECK(changed.output.find("recreating") != std::string::npos);
    const auto new_page = page_at(project.port);
    REQUIRE(new_page);
    CHECK(new_page->find("second\nstamped") != std::string::npos);

    // `lcloud image build` shows a failing RUN's output and the line of the file.
    std::ofstream(web / "Containerfile") << "FROM busybox:test\nRUN echo about to fail; false\n";
    const auto failed = project.run("image build -t broken:1 " + web.string());
    CHECK(failed.exit_code == 1);
    CHECK(failed.output.find("about to fail") != std::string::npos);
    CHECK(failed.output.find("Containerfile:2: RUN echo about to fail; false") !=
          std::string::npos);
}

TEST_CASE("lcloud reset (provider local): every container anew, named volumes empty") {
    LocalProject project("resetlocal", R"(name: {name}
provider: local
containers:
  db:
    image: busybox:test
    command: ["sh", "-c", "trap 'exit 0' TERM; while :; do sleep 1 & wait; done"]
    volumes: ["data:/data"]
    stop_grace_period: 1s
)");
    const BusyboxTarball tarball;
    REQUIRE(
        project.run("image import --rootfs busybox:test " + tarball.path().string()).exit_code ==
        0);
    REQUIRE(project.run("up").exit_code == 0);
    REQUIRE(project.run("exec db -- sh -c 'touch /data/kept /in-container'").exit_code == 0);
    const auto reset = project.run("reset");
    INFO(reset.output);
    REQUIRE(reset.exit_code == 0);
    CHECK(reset.output.find("removed 1 container and 1 volume") != std::string::npos);
    CHECK(project.run("exec db -- test -e /data/kept").exit_code == 1);
    CHECK(project.run("exec db -- test -e /in-container").exit_code == 1);
    CHECK(project.run("--json ps").output.find("\"running\"") != std::string::npos);
}

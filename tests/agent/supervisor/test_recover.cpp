// kill -9 of the agent, then a new one: it takes back the containers that still run (their
// ports, names, logs and restart policies), and nothing runs untracked.
#include "agent/net_client.hpp"
#include "agent/serving_agent.hpp"

#include <csignal>
#include <doctest/doctest.h>

using namespace lcloud;
using namespace lcloud::test;

namespace {

agent::ContainerSpec spec_of(const std::string& environment, const std::string& service,
                             std::vector<std::string> command) {
    agent::ContainerSpec spec;
    spec.id = environment + "." + service;
    spec.environment = environment;
    spec.service = service;
    spec.image = "busybox:test";
    spec.network = environment;
    spec.aliases = {service};
    spec.command = std::move(command);
    spec.stop_grace_ms = 2000;
    return spec;
}

size_t log_lines(agent::AgentClient& client, const std::string& id) {
    size_t lines = 0;
    client.call_streaming("container.logs", {{"id", id}}, [&](const nlohmann::json&) { ++lines; });
    return lines;
}

bool eventually(const std::function<bool()>& condition) {
    for (int i = 0; i < 200; ++i) {
        if (condition()) return true;
        std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    return false;
}

} // namespace

TEST_CASE("agent recover: after kill -9, a new agent adopts the running containers") {
    ServingAgent served;
    const std::string environment = unique_name("r");
    const uint16_t port = free_port();
    std::string web_id, ticker_id;
    int web_pid = 0, ticker_pid = 0;
    {
        auto client = served.connect();
        static BusyboxTarball tarball;
        client.call("image.import",
                    {{"path", tarball.path().string()}, {"rootfs", "busybox:test"}});
        auto web = spec_of(environment, "web",
                           {"sh", "-c", "echo adopted > /index.html; exec httpd -f -p 80 -h /"});
        web.ports = {{"tcp", "127.0.0.1", port, 80}};
        auto ticker = spec_of(environment, "ticker",
                              {"sh", "-c", "while true; do echo tick; sleep 0.1; done"});
        ticker.restart = "always";
        web_pid = client.call("container.create", {{"spec", web}}).at("pid");
        ticker_pid = client.call("container.create", {{"spec", ticker}}).at("pid");
        web_id = web.id;
        ticker_id = ticker.id;
        REQUIRE(tcp_exchange(port, "GET /index.html HTTP/1.0\r\n\r\n"));
    }
    served.stop(SIGKILL);
    // The containers outlive their supervisor; the port went with it.
    CHECK(::kill(web_pid, 0) == 0);
    CHECK(::kill(ticker_pid, 0) == 0);
    CHECK_FALSE(tcp_exchange(port, "GET /index.html HTTP/1.0\r\n\r\n", 500));

    served.start();
    auto client = served.connect();
    const auto list = client.call("container.list", {{"environment", environment}})
                          .get<std::vector<agent::ContainerStatus>>();
    REQUIRE(list.size() == 2);
    for (const auto& status : list) {
        CHECK(status.state == "running");
        CHECK(status.pid == (status.spec.id == web_id ? web_pid : ticker_pid));
    }
    // Its port is published again, its name resolves, its output is still captured.
    const auto page = tcp_exchange(port, "GET /index.html HTTP/1.0\r\n\r\n");
    REQUIRE(page);
    CHECK(page->find("adopted") != std::string::npos);
    std::string out;
    client.call_streaming("container.exec", {{"id", ticker_id}, {"args", {"nslookup", "web"}}},
                          [&](const nlohmann::json& message) {
                              out += agent::base64_decode(message.value("data", ""));
                          });
    CHECK(out.find("Address") != std::string::npos);
    const size_t before = log_lines(client, ticker_id);
    CHECK(eventually([&] { return log_lines(client, ticker_id) > before + 3; }));

    // Its restart policy holds: killed, it comes back under the new agent.
    REQUIRE(::kill(ticker_pid, SIGKILL) == 0);
    CHECK(eventually([&] {
        const auto status =
            client.call("container.inspect", {{"id", ticker_id}}).get<agent::ContainerStatus>();
        return status.state == "running" && status.pid != ticker_pid && status.restarts == 1;
    }));
    // And it stops on request.
    const auto stopped = client.call("container.stop", {{"id", web_id}});
    CHECK(stopped.at("state") == "stopped");
    // Not the new agent's child: whoever adopted the orphan reaps it, a moment later.
    CHECK(eventually([&] { return ::kill(web_pid, 0) != 0; }));

    client.call("environment.destroy", {{"environment", environment}});
    client.call("agent.shutdown");
}

// lcloud-agent as the engine uses it: real containers on a real network, names, ports,
// restarts, health, logs and clean removal.
#include "agent_fixture.hpp"
#include "net_client.hpp"

#include <fstream>
#include <sys/timerfd.h>

using namespace lcloud;
using namespace lcloud::test;
using namespace std::chrono_literals;

namespace {

std::string http_get(const std::string& path = "/") {
    return "GET " + path + " HTTP/1.0\r\nHost: test\r\n\r\n";
}

// A busybox httpd serving `text` at / on port 80.
std::vector<std::string> web_server(const std::string& text) {
    return {"/bin/sh", "-c",
            "mkdir -p /www && echo '" + text +
                "' > /www/index.html && exec httpd -f -p 80 -h /www"};
}

} // namespace

TEST_CASE("agent: two containers talk by name, and replicas resolve to each and to all") {
    AgentFixture agent;
    agent.create(agent.spec("web", web_server("hello from web")));
    for (int replica : {1, 2}) {
        auto node = agent.spec("node", {"sleep", "300"});
        node.id = agent.environment + ".node-" + std::to_string(replica);
        node.replica = replica;
        node.aliases = {"node", "node-" + std::to_string(replica)};
        agent.create(node);
    }
    const auto node1 = agent.status(agent.environment + ".node-1");
    const auto node2 = agent.status(agent.environment + ".node-2");
    REQUIRE(node1.state == "running");
    CHECK(node1.address != node2.address);

    const auto all = agent.exec(agent.environment + ".web", {"nslookup", "node"});
    CHECK(all.exit_code == 0);
    CHECK(all.out.find(node1.address) != std::string::npos);
    CHECK(all.out.find(node2.address) != std::string::npos);
    const auto one = agent.exec(agent.environment + ".web", {"nslookup", "node-2"});
    CHECK(one.out.find(node2.address) != std::string::npos);
    CHECK(one.out.find(node1.address) == std::string::npos);

    const auto fetched = agent.exec(agent.environment + ".node-1", {"wget", "-qO-", "http://web/"});
    CHECK(fetched.exit_code == 0);
    CHECK(fetched.out == "hello from web\n");
    CHECK(agent.exec(agent.environment + ".web", {"cat", "/etc/hostname"}).out == "web\n");
}

TEST_CASE("agent: published TCP and UDP ports answer on the host") {
    AgentFixture agent;
    const uint16_t tcp_port = free_port(SOCK_STREAM);
    const uint16_t udp_port = free_port(SOCK_DGRAM);
    auto web = agent.spec("web", web_server("published"));
    web.ports = {{"tcp", "127.0.0.1", tcp_port, 80}};
    agent.create(web);
    auto echo = agent.spec("echo", {"/bin/udp-echo", "5000"});
    echo.ports = {{"udp", "127.0.0.1", udp_port, 5000}};
    agent.create(echo);

    std::optional<std::string> answer;
    CHECK(agent.eventually(
        [&] { return (answer = tcp_exchange(tcp_port, http_get())).has_value(); }));
    REQUIRE(answer);
    CHECK(answer->find("200 OK") != std::string::npos);
    CHECK(answer->find("published") != std::string::npos);
    std::optional<std::string> echoed;
    CHECK(agent.eventually([&] { return (echoed = udp_exchange(udp_port, "ping")).has_value(); }));
    CHECK(echoed.value_or("") == "ping");

    // The port is reported, and a second claim on it is refused before anything starts.
    CHECK(agent.status(web.id).ports.at(0).host_port == tcp_port);
    const auto check = agent.client->call(
        "ports.check",
        {{"ports", {{{"protocol", "tcp"}, {"host_ip", "127.0.0.1"}, {"host_port", tcp_port}}}}});
    REQUIRE(check.at("unavailable").size() == 1);
    CHECK(check.at("unavailable")[0].get<std::string>().find(std::to_string(tcp_port)) !=
          std::string::npos);
}

TEST_CASE("agent: a crashed process restarts under its policy; logs -f follows the restarts") {
    AgentFixture agent;
    auto crash = agent.spec("crash", {"/bin/sh", "-c", "echo run $$; sleep 0.2; exit 3"});
    crash.restart = "on-failure";
    crash.max_retries = 2;
    agent.create(crash);
    CHECK(agent.eventually(
        [&] {
            const auto status = agent.status(crash.id);
            return status.state == "exited" && status.restarts == 2;
        },
        15s));
    const auto status = agent.status(crash.id);
    CHECK(status.exit_code == 3);
    std::vector<std::string> lines;
    agent.client->call_streaming("container.logs", {{"id", crash.id}, {"follow", false}},
                                 [&](const nlohmann::json& message) {
                                     lines.push_back(message.at("entry").value("log", ""));
                                 });
    CHECK(lines.size() == 3);
    for (const auto& line : lines)
        CHECK(line.rfind("run ", 0) == 0);

    // logs -f keeps following across restarts, until cancelled.
    auto always = agent.spec("always", {"/bin/sh", "-c", "echo up; sleep 0.1; exit 0"});
    always.restart = "always";
    agent.create(always);
    Fd watchdog(::timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC));
    itimerspec in_15s{};
    in_15s.it_value.tv_sec = 15;
    ::timerfd_settime(watchdog.get(), 0, &in_15s, nullptr);
    int seen = 0;
    agent.client->call_streaming(
        "container.logs", {{"id", always.id}, {"follow", true}},
        [&](const nlohmann::json& message) {
            if (message.at("entry").value("log", "") == "up\n" && ++seen == 4)
                agent.client->cancel(agent.client->current_request());
        },
        {watchdog.get()}, [](int) { FAIL("logs -f saw no restarts in 15 s"); });
    CHECK(seen >= 4);
    CHECK(agent.status(always.id).restarts >= 3);
    auto never = agent.spec("never", {"/bin/sh", "-c", "exit 5"});
    agent.create(never);
    CHECK(agent.eventually([&] { return agent.status(never.id).state == "exited"; }));
    std::this_thread::sleep_for(300ms);
    CHECK(agent.status(never.id).restarts == 0);
    CHECK(agent.status(never.id).exit_code == 5);
}

TEST_CASE("agent: health goes from starting to healthy, and to unhealthy") {
    AgentFixture agent;
    auto slow = agent.spec("slow", {"/bin/sh", "-c", "sleep 1; touch /tmp/ready; exec sleep 300"});
    slow.health = agent::HealthSpec{{"CMD-SHELL", "test -f /tmp/ready"}, 200, 1000, 0, 2};
    CHECK(agent.create(slow).health == "starting");
    CHECK(agent.eventually([&] { return agent.status(slow.id).health == "healthy"; }));
    agent.exec(slow.id, {"rm", "/tmp/ready"});
    CHECK(agent.eventually([&] { return agent.status(slow.id).health == "unhealthy"; }));
}

namespace {

// A container that is ready (has /tmp/ready) after `delay`, checked every 100 ms while it starts
// and then every 60 s.
agent::ContainerSpec ready_after(AgentFixture& agent, const std::string& name,
                                 const std::string& delay) {
    auto spec = agent.spec(
        name, {"/bin/sh", "-c", "sleep " + delay + "; touch /tmp/ready; exec sleep 300"});
    spec.health =
        agent::HealthSpec{{"CMD-SHELL", "test -f /tmp/ready"}, 60000, 1000, 30000, 2, 100};
    return spec;
}

} // namespace

TEST_CASE("agent: container.wait answers when the service turns healthy, or at its timeout") {
    AgentFixture agent;
    auto slow = ready_after(agent, "slow", "1.5");
    agent.create(slow);
    const nlohmann::json wait{
        {"environment", agent.environment}, {"service", "slow"}, {"condition", "healthy"}};
    auto with_timeout = [&](int64_t ms) {
        auto params = wait;
        params["timeout_ms"] = ms;
        return params;
    };
    CHECK(agent.client->call("container.wait", with_timeout(100)).at("met") == false);
    // Each answer comes at an event of the service: the health check that passes is one.
    const auto start = std::chrono::steady_clock::now();
    bool met = false;
    for (int turn = 0; turn < 5 && !met; ++turn)
        met = agent.client->call("container.wait", with_timeout(20000)).at("met").get<bool>();
    CHECK(met);
    CHECK(std::chrono::steady_clock::now() - start < 15s);
    CHECK(agent.status(slow.id).health == "healthy");
    // Met already: at once.
    CHECK(agent.client->call("container.wait", with_timeout(20000)).at("met") == true);
    auto other = with_timeout(100);
    other["service"] = "none";
    CHECK(agent.client->call("container.wait", other).at("met") == false);
    other["condition"] = "happy";
    CHECK_THROWS_AS(agent.client->call("container.wait", other), agent::AgentError);
}

TEST_CASE("agent: start_interval checks a starting container often, then interval applies") {
    AgentFixture agent;
    // A 60 s interval alone would keep it starting for a minute.
    auto quick = ready_after(agent, "quick", "0.3");
    CHECK(agent.create(quick).health == "starting");
    CHECK(agent.eventually([&] { return agent.status(quick.id).health == "healthy"; }));
    // Healthy ends the quick checks: a failure now waits for the next interval.
    agent.exec(quick.id, {"rm", "/tmp/ready"});
    std::this_thread::sleep_for(1s);
    CHECK(agent.status(quick.id).health == "healthy");
}

TEST_CASE("agent: stop is graceful, then forced after the grace period") {
    AgentFixture agent;
    auto polite = agent.spec("polite", {"sleep", "300"}); // pid 1 ignores SIGTERM by default
    polite.stop_grace_ms = 500;
    agent.create(polite);
    const auto started = std::chrono::steady_clock::now();
    const auto stopped = agent.client->call("container.stop", {{"id", polite.id}});
    const auto took = std::chrono::steady_clock::now() - started;
    CHECK(stopped.at("state") == "stopped");
    CHECK(took >= 450ms);
    CHECK(took < 5s);
    // A stopped container is not restarted, and starts again on request.
    agent.client->call("container.start", {{"id", polite.id}});
    CHECK(agent.status(polite.id).state == "running");
}

namespace {

// A container that says when it is ready, and, on SIGTERM, that it got it, in files under `out`.
agent::ContainerSpec term_trap(AgentFixture& agent, const std::filesystem::path& out) {
    auto trap = agent.spec("trap", {"sh", "-c",
                                    "trap 'touch /out/terminated; exit 0' TERM; touch /out/ready; "
                                    "while true; do sleep 0.1; done"});
    trap.mounts = {{"bind", out.string(), "/out", false}};
    return trap;
}

} // namespace

TEST_CASE("agent: a container gets SIGTERM on stop, with no signal blocked or ignored") {
    AgentFixture agent;
    const auto out = agent.dir.path() / "out";
    std::filesystem::create_directories(out);
    auto trap = term_trap(agent, out);
    trap.stop_grace_ms = 10000;
    const auto status = agent.create(trap);
    REQUIRE(agent.eventually([&] { return std::filesystem::exists(out / "ready"); }));
    std::ifstream proc_status("/proc/" + std::to_string(status.pid) + "/status");
    std::string line;
    while (std::getline(proc_status, line)) {
        if (line.rfind("SigBlk:", 0) == 0) CHECK(line == "SigBlk:\t0000000000000000");
        // sh ignores nothing of its own accord; an ignored SIGPIPE would be the agent's.
        if (line.rfind("SigIgn:", 0) == 0)
            CHECK((std::stoull(line.substr(7), nullptr, 16) & (1ull << (SIGPIPE - 1))) == 0);
        CHECK(line.find("1000", line.size() - 4) == std::string::npos);
    }
    const auto stopped = agent.client->call("container.stop", {{"id", trap.id}});
    CHECK(std::filesystem::exists(out / "terminated"));
    CHECK(stopped.at("exit_code") == 0);
}

TEST_CASE("agent: a SIGTERM its init did not catch yet is sent again once it does") {
    AgentFixture agent;
    const auto out = agent.dir.path() / "out";
    std::filesystem::create_directories(out);
    // As pid 1 the shell loses a SIGTERM that comes during its first second: it has no trap yet.
    auto late = agent.spec("late", {"sh", "-c",
                                    "sleep 1; trap 'touch /out/terminated; exit 0' TERM; "
                                    "while true; do sleep 0.1; done"});
    late.mounts = {{"bind", out.string(), "/out", false}};
    late.stop_grace_ms = 10000;
    agent.create(late);
    const auto started = std::chrono::steady_clock::now();
    const auto stopped = agent.client->call("container.stop", {{"id", late.id}});
    CHECK(std::chrono::steady_clock::now() - started < 5s);
    CHECK(std::filesystem::exists(out / "terminated"));
    CHECK(stopped.at("exit_code") == 0);
}

TEST_CASE("agent: destroy leaves no link, mount, nftables rule, cgroup or process") {
    AgentFixture agent;
    auto web = agent.spec("web", web_server("x"));
    web.ports = {{"tcp", "127.0.0.1", free_port(), 80}};
    web.mounts = {{"volume", agent.environment + "_data", "/data", false}};
    const auto status = agent.create(web);
    const int pid = status.pid;
    REQUIRE(pid > 0);
    // destroy kills at once: what a graceful stop would save is about to be deleted anyway.
    const auto out = agent.dir.path() / "out";
    std::filesystem::create_directories(out);
    auto trap = term_trap(agent, out);
    agent.create(trap);
    REQUIRE(agent.eventually([&] { return std::filesystem::exists(out / "ready"); }));
    const auto network = agent.client->call("network.list")[0];
    const std::string bridge = network.at("bridge");
    REQUIRE(run_command("ip link show " + bridge).exit_code == 0);
    CHECK(std::filesystem::exists(agent.root() / "volumes" / (agent.environment + "_data")));

    const auto removed =
        agent.client->call("environment.destroy", {{"environment", agent.environment}});
    CHECK(removed.at("containers").size() == 2);
    CHECK_FALSE(std::filesystem::exists(out / "terminated"));
    CHECK(removed.at("networks").size() == 1);
    CHECK(removed.at("volumes").size() == 1);
    CHECK(::kill(pid, 0) != 0);
    CHECK(run_command("ip link show " + bridge).exit_code != 0);
    CHECK(run_command("ip -o link show | grep -c lcv", true).output.find(bridge) ==
          std::string::npos);
    std::ifstream mounts("/proc/self/mountinfo");
    const std::string mountinfo(std::istreambuf_iterator<char>(mounts), {});
    CHECK(mountinfo.find(agent.root().string()) == std::string::npos);
    CHECK(run_command("nft list ruleset | grep -c " + bridge, true).output == "0\n");
    CHECK_FALSE(std::filesystem::exists("/sys/fs/cgroup/pids/lcloud-agent/" + web.id));
    // The shared parent goes with the last container (unless another agent's still run).
    const bool others = run_command("find /sys/fs/cgroup/pids/lcloud-agent -mindepth 1 -maxdepth 1 "
                                    "-type d 2>/dev/null | wc -l",
                                    true)
                            .output != "0\n";
    if (!others) CHECK_FALSE(std::filesystem::exists("/sys/fs/cgroup/pids/lcloud-agent"));
    CHECK_FALSE(std::filesystem::exists(agent.root() / "volumes" / (agent.environment + "_data")));
    CHECK(agent.client->call("container.list").empty());
}

TEST_CASE("agent: a network deleted behind the agent's back is repaired at the next start") {
    AgentFixture agent;
    agent.create(agent.spec("first", {"sleep", "300"}));
    const std::string bridge = agent.client->call("network.list")[0].at("bridge");
    REQUIRE(run_command("ip link del " + bridge).exit_code == 0);
    const auto second = agent.create(agent.spec("second", {"sleep", "300"}));
    CHECK(second.state == "running");
    CHECK_FALSE(second.address.empty());
    CHECK(run_command("ip link show " + bridge).exit_code == 0);
}

TEST_CASE("agent: a named volume outlives its container; binds and tmpfs are what they say") {
    AgentFixture agent;
    const auto host_dir = agent.dir.path() / "shared";
    std::filesystem::create_directories(host_dir);
    std::ofstream(host_dir / "from-host.txt") << "host\n";
    auto spec = agent.spec("data", {"sleep", "300"});
    spec.mounts = {{"volume", agent.environment + "_data", "/data", false},
                   {"bind", host_dir.string(), "/shared", false},
                   {"bind", host_dir.string(), "/shared-ro", true},
                   {"tmpfs", "", "/scratch", false}};
    agent.create(spec);
    CHECK(agent.exec(spec.id, {"sh", "-c", "echo kept > /data/file"}).exit_code == 0);
    CHECK(agent.exec(spec.id, {"cat", "/shared/from-host.txt"}).out == "host\n");
    CHECK(agent.exec(spec.id, {"sh", "-c", "echo guest > /shared/from-guest.txt"}).exit_code == 0);
    CHECK(agent.exec(spec.id, {"sh", "-c", "echo no > /shared-ro/nope"}).exit_code != 0);
    CHECK(agent.exec(spec.id, {"sh", "-c", "grep ' /scratch ' /proc/mounts"}).out.find("tmpfs") ==
          0);
    std::ifstream from_guest(host_dir / "from-guest.txt");
    std::string line;
    CHECK((std::getline(from_guest, line) && line == "guest"));

    // Recreated, as up does when the configuration changes: the volume's data is still there.
    agent.client->call("container.rm", {{"id", spec.id}});
    spec.env["CHANGED"] = "1";
    agent.create(spec);
    CHECK(agent.exec(spec.id, {"cat", "/data/file"}).out == "kept\n");
}

// examples/localcloud as a new user brings it up today (with the local provider, until the VM
// arrives): a Debian base by debootstrap, the example's own Containerfiles (haproxy from Debian's
// packages), two nodes behind haproxy, the shared src/ live in the nodes, a killed node back.
#include "agent/agent_fixture.hpp"
#include "agent/net_client.hpp"

#include "support/run_command.hpp"
#include "support/temp_dir.hpp"

#include <csignal>
#include <doctest/doctest.h>
#include <fmt/format.h>
#include <fstream>
#include <regex>
#include <set>

using namespace lcloud;
using namespace lcloud::test;
namespace fs = std::filesystem;

namespace {

struct ExampleProject {
    TempDir dir;
    fs::path project = dir.path() / "localcloud";
    uint16_t port = free_port();
    std::string prefix = fmt::format("LCLOUD_PROVIDER=local LCLOUD_AGENT_ROOT={0}/agent "
                                     "LCLOUD_AGENT_SOCKET={0}/agent.sock LCLOUD_AGENT_NO_FSYNC=1 ",
                                     dir.path().string());

    ExampleProject() {
        fs::copy(fs::path(LCLOUD_SOURCE_DIR) / "templates/localcloud", project,
                 fs::copy_options::recursive);
        fs::remove_all(project / ".lcloud");
        // Another port than the example's 8080, which a developer's own up may hold.
        std::ifstream in(project / "lcloud.yaml");
        std::string text(std::istreambuf_iterator<char>(in), {});
        text = std::regex_replace(text, std::regex("\"8080:80\""), fmt::format("\"{}:80\"", port));
        std::ofstream(project / "lcloud.yaml") << text;
    }
    ~ExampleProject() {
        run("destroy");
        for (int i = 0; i < 100 && fs::exists(dir.path() / "agent.sock"); ++i)
            std::this_thread::sleep_for(std::chrono::milliseconds(50));
        clean_agent_root(dir.path() / "agent");
    }
    CommandResult run(const std::string& arguments) {
        return run_command(prefix + lcloud_binary() + " -C " + project.string() + " " + arguments);
    }
    // The body of GET /, through haproxy.
    std::string get() {
        const auto answer = tcp_exchange(port, "GET / HTTP/1.0\r\n\r\n");
        if (!answer) return "";
        const auto body = answer->find("\r\n\r\n");
        return body == std::string::npos ? *answer : answer->substr(body + 4);
    }
    bool eventually(const std::function<bool()>& condition, int seconds = 30) {
        for (int i = 0; i < seconds * 10; ++i) {
            if (condition()) return true;
            std::this_thread::sleep_for(std::chrono::milliseconds(100));
        }
        return false;
    }
};

bool is_node_1(const nlohmann::json& container) {
    return container.at("spec").at("service") == "node" && container.at("spec").at("replica") == 1;
}

} // namespace

TEST_CASE("examples/localcloud with the local provider: up, both nodes, live src, a killed node") {
    ExampleProject example;
    const auto bootstrap = example.run("image bootstrap lcloud/debian:bookworm --include busybox");
    INFO(bootstrap.output.substr(bootstrap.output.size() > 3000 ? bootstrap.output.size() - 3000
                                                                : 0));
    REQUIRE(bootstrap.exit_code == 0);

    const auto up = example.run("up");
    INFO(up.output.substr(up.output.size() > 3000 ? up.output.size() - 3000 : 0));
    REQUIRE(up.exit_code == 0);
    CHECK(up.output.find(fmt::format("http://127.0.0.1:{}", example.port)) != std::string::npos);

    // haproxy runs once up returns, but listens a moment later.
    REQUIRE(example.eventually([&] { return !example.get().empty(); }));
    std::set<std::string> answered;
    for (int i = 0; i < 6; ++i)
        answered.insert(example.get());
    CHECK(answered == std::set<std::string>{"node-1: hello from the local cloud\n",
                                            "node-2: hello from the local cloud\n"});

    std::ofstream(example.project / "src/message.txt") << "edited on the host\n";
    CHECK(example.eventually(
        [&] { return example.get().find("edited on the host") != std::string::npos; }));

    const auto ps = example.run("--json ps");
    const auto containers = nlohmann::json::parse(ps.output.substr(ps.output.find('[')));
    int node_pid = 0;
    for (const auto& container : containers)
        if (is_node_1(container)) node_pid = container.at("pid");
    REQUIRE(node_pid > 0);
    REQUIRE(::kill(node_pid, SIGKILL) == 0);
    CHECK(example.eventually([&] {
        const auto again = example.run("--json ps");
        const auto list = nlohmann::json::parse(again.output.substr(again.output.find('[')));
        for (const auto& container : list)
            if (is_node_1(container))
                return container.at("restarts") == 1 && container.at("health") == "healthy";
        return false;
    }));
    // haproxy takes the node back after its next good check.
    std::string last;
    CHECK_MESSAGE(
        example.eventually([&] {
            last = example.get();
            return last == "node-1: edited on the host\n";
        }),
        "the last answer: "
            << last << "\nps: " << example.run("ps").output << "\nnslookup in haproxy: "
            << example.run("exec haproxy -- busybox nslookup node").output << "\nnode-1 directly: "
            << example.run("exec haproxy -- busybox wget -qO- http://node-1:8000/cgi-bin/index")
                   .output);

    const auto noop = example.run("up");
    CHECK(noop.exit_code == 0);
    CHECK(noop.output.find("nothing was restarted") != std::string::npos);

    const auto destroyed = example.run("destroy");
    CHECK(destroyed.output.find("removed 4 containers") != std::string::npos);
    CHECK_FALSE(tcp_exchange(example.port, "GET / HTTP/1.0\r\n\r\n", 500));
}

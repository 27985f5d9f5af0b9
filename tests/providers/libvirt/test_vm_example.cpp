// examples/localcloud in the VM, as a new user runs it from README's up command (`scripts/dev
// up`: a Debian base by `image bootstrap`, then `lcloud up` on the example): both nodes behind
// haproxy, a live edit of the shared src/, a killed node back, a no-op up, reset, destroy.
#include "providers/libvirt/vm_fixture.hpp"

#include "agent/net_client.hpp"

#include <chrono>
#include <nlohmann/json.hpp>
#include <regex>
#include <set>
#include <thread>

using namespace lcloud;
using namespace lcloud::test;
namespace fs = std::filesystem;

namespace {

// The host's image store the VM takes the base from: a cache beside the test box, since
// debootstrap costs half a minute. Its agent leaves when it has nothing to do.
std::string host_store_environment() {
    const auto root = vm_test_data_home / "host-agent";
    const auto prefix =
        fmt::format("LCLOUD_AGENT_ROOT={0} LCLOUD_AGENT_SOCKET={0}/agent.sock ", root.string());
    const std::string lcloud = prefix + LCLOUD_BINARY;
    if (run_command(lcloud + " image inspect lcloud/debian:bookworm").exit_code != 0) {
        const auto bootstrap =
            run_command(lcloud + " image bootstrap lcloud/debian:bookworm --include busybox");
        INFO(bootstrap.output);
        REQUIRE(bootstrap.exit_code == 0);
    }
    for (int i = 0; i < 100 && fs::exists(root / "agent.sock"); ++i)
        std::this_thread::sleep_for(std::chrono::milliseconds(50));
    return prefix;
}

std::string body_of(uint16_t port) {
    const auto answer = tcp_exchange(port, "GET / HTTP/1.0\r\n\r\n", 2000);
    if (!answer) return "";
    const auto body = answer->find("\r\n\r\n");
    return body == std::string::npos ? "" : answer->substr(body + 4);
}

bool eventually(const std::function<bool()>& condition, int seconds) {
    for (int i = 0; i < seconds * 10; ++i) {
        if (condition()) return true;
        std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    return false;
}

nlohmann::json node_1(const VmProject& project) {
    const auto ps = project.lcloud("--json ps");
    const auto list = nlohmann::json::parse(ps.output.substr(ps.output.find('[')), nullptr, false);
    if (list.is_array())
        for (const auto& container : list)
            if (container.at("spec").at("service") == "node" &&
                container.at("spec").at("replica") == 1)
                return container;
    return nlohmann::json::object();
}

std::string tail(const std::string& text) {
    return text.substr(text.size() > 3000 ? text.size() - 3000 : 0);
}

} // namespace

TEST_CASE("vm: examples/localcloud from README's up command: both nodes, a live src edit, a "
          "killed node back, a no-op up, reset, destroy, and up and reset from the image cache") {
    use_test_box();
    const auto store = host_store_environment();
    VmProject example(VmProject::CopyOf{fs::path(LCLOUD_SOURCE_DIR) / "templates/localcloud"},
                      "localcloud");
    // Another host port than 8080, which a developer's own environment may hold.
    const uint16_t port = free_port();
    {
        std::ifstream in(example.dir() / "lcloud.yaml");
        std::string text(std::istreambuf_iterator<char>(in), {});
        text = std::regex_replace(text, std::regex("\"8080:80\""), fmt::format("\"{}:80\"", port));
        std::ofstream(example.dir() / "lcloud.yaml") << text;
    }
    const auto lcloud = [&](const std::string& arguments) {
        return run_command(store + LCLOUD_BINARY + " -C " + example.dir().string() + " " +
                           arguments);
    };

    const auto up = lcloud("up");
    INFO(tail(up.output));
    REQUIRE(up.exit_code == 0);
    CHECK(up.output.find(fmt::format("http://127.0.0.1:{}", port)) != std::string::npos);
    const auto both_nodes = [&](const std::string& message) {
        std::set<std::string> answered;
        for (int i = 0; i < 6; ++i)
            answered.insert(body_of(port));
        return answered == std::set<std::string>{"node-1: " + message, "node-2: " + message};
    };
    // haproxy runs once up returns, and finds the nodes a moment later.
    CHECK(eventually([&] { return both_nodes("hello from the local cloud\n"); }, 30));

    std::ofstream(example.dir() / "src/message.txt") << "edited on the host\n";
    CHECK(eventually([&] { return both_nodes("edited on the host\n"); }, 15));

    // A node's process killed in the VM: its restart policy brings it back, healthy, and
    // haproxy takes it back.
    const int node_pid = node_1(example).value("pid", 0);
    REQUIRE(node_pid > 0);
    REQUIRE(example.ssh(fmt::format("kill -9 {}", node_pid)).exit_code == 0);
    CHECK(eventually(
        [&] {
            const auto node = node_1(example);
            return node.value("restarts", 0) == 1 && node.value("health", "") == "healthy";
        },
        30));
    CHECK(eventually([&] { return both_nodes("edited on the host\n"); }, 30));

    // QEMU saves no VM with a live 9p mount, and the nodes bind src/: suspend and a snapshot
    // detach those binds around the save, and the nodes see src/ live again after.
    const auto snapshot = lcloud("snapshot save with-binds");
    INFO(tail(snapshot.output));
    CHECK(snapshot.exit_code == 0);
    const auto suspended = lcloud("suspend");
    INFO(tail(suspended.output));
    CHECK(suspended.exit_code == 0);
    CHECK(lcloud("status").output.find("suspended") != std::string::npos);
    const auto resumed = lcloud("resume");
    INFO(tail(resumed.output));
    CHECK(resumed.exit_code == 0);
    std::ofstream(example.dir() / "src/message.txt") << "edited after the resume\n";
    CHECK(eventually([&] { return both_nodes("edited after the resume\n"); }, 15));

    const auto noop = lcloud("up");
    INFO(noop.output);
    CHECK(noop.exit_code == 0);
    CHECK(noop.output.find("nothing was restarted") != std::string::npos);

    // reset undoes what happened since the first up: in a container, and on the VM's disk.
    REQUIRE(lcloud("exec master -- touch /since-up").exit_code == 0);
    REQUIRE(example.ssh("touch /var/lib/lcloud/since-up").exit_code == 0);
    const auto reset = lcloud("reset");
    INFO(tail(reset.output));
    REQUIRE(reset.exit_code == 0);
    CHECK(reset.output.find("pristine state") != std::string::npos);
    // The pristine state was saved before the first container: there are none to remove.
    CHECK(reset.output.find("reset: removed") == std::string::npos);
    CHECK(reset.output.find("creating localcloud") != std::string::npos);
    CHECK(lcloud("exec master -- test -e /since-up").exit_code == 1);
    CHECK(example.ssh("test -e /var/lib/lcloud/since-up").exit_code == 1);
    CHECK(node_1(example).value("restarts", -1) == 0);
    CHECK(eventually([&] { return both_nodes("edited after the resume\n"); }, 30));

    const auto destroyed = lcloud("destroy");
    CHECK(destroyed.exit_code == 0);
    CHECK(destroyed.output.find("removed 4 containers") != std::string::npos);
    CHECK(example.leftovers().empty());
    CHECK_FALSE(tcp_exchange(port, "GET / HTTP/1.0\r\n\r\n", 500));

    // The next cold up starts from the images destroy kept (haproxy's apt-get is not run
    // again), and its reset works on a data disk that is an overlay of them.
    const auto again = lcloud("up");
    INFO(tail(again.output));
    REQUIRE(again.exit_code == 0);
    CHECK(again.output.find("starting from the images that the last destroy kept") !=
          std::string::npos);
    CHECK(again.output.find("apt-get") == std::string::npos);
    CHECK(eventually([&] { return both_nodes("edited after the resume\n"); }, 30));
    const auto seeded_reset = lcloud("reset");
    INFO(tail(seeded_reset.output));
    REQUIRE(seeded_reset.exit_code == 0);
    CHECK(eventually([&] { return both_nodes("edited after the resume\n"); }, 30));
    const auto data_disk = run_command("qemu-img info -U --output=json /var/lib/lcloud/pool/" +
                                       example.domain() + "-data.qcow2");
    CHECK(nlohmann::json::parse(data_disk.output)["format-specific"]["data"].value("compat", "") ==
          "1.1");
    const auto destroyed_with_images = lcloud("destroy --images");
    CHECK(destroyed_with_images.exit_code == 0);
    CHECK(example.leftovers().empty());
}

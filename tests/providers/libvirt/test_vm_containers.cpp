// The containers of a provider-libvirt project, in the VM, as a user drives them: an image
// built from the project's context on a base image only this host's store has, exec, logs, a
// shared folder bound into the container, a TCP and a UDP port published on the host, a no-op
// up, and destroy leaving nothing.
#include "providers/libvirt/vm_fixture.hpp"

#include "agent/net_client.hpp"
#include "providers/forward/forwarder.hpp"
#include "runtime/image/reference.hpp"
#include "runtime/image/store.hpp"
#include "support/busybox_image.hpp"
#include "support/env_guard.hpp"

#include <chrono>
#include <thread>

using namespace lcloud;
using namespace lcloud::test;
namespace fs = std::filesystem;

TEST_CASE("vm: containers built in the VM on a base from the host's store, with exec, logs, "
          "shared folders, TCP and UDP ports, a no-op up and destroy") {
    use_test_box();
    const auto started = std::chrono::steady_clock::now();
    // A host store of the test's own, with a base image that only it has.
    TempDir host_root;
    const EnvGuard agent_root("LCLOUD_AGENT_ROOT", host_root.path().string());
    {
        const BusyboxTarball tarball;
        runtime::image::Store store(host_root.path() / "images");
        store.import_rootfs(tarball.path(), runtime::image::parse_reference("vmtest/busybase:1"));
    }
    // One more container in the same VM (a boot is what a VM test costs): a UDP echo, whose
    // port the forwarder relays as datagrams. busybox has no UDP server; udp-echo is static.
    const uint16_t udp_port = free_port(SOCK_DGRAM);
    VmProject project(
        "", "shared_folders:\n  - host: ./share\n    guest: /lcloud/share\n",
        fmt::format("  app:\n"
                    "    build: ./app\n"
                    // The same number on a second host address: one port each in the VM.
                    "    ports: [\"18080:80\", \"127.0.0.2:18080:80\"]\n"
                    "    volumes: [\"./share/sub:/srv/share\", \"/lcloud/share:/srv/guest:ro\"]\n"
                    "  echo:\n"
                    "    build: ./echo\n"
                    "    ports: [\"{0}:7/udp\", \"127.0.0.2:{0}:7/udp\"]\n",
                    udp_port));
    fs::create_directories(project.dir() / "echo");
    fs::copy_file(LCLOUD_UDP_ECHO_BINARY, project.dir() / "echo" / "udp-echo");
    std::ofstream(project.dir() / "echo" / "Containerfile")
        << "FROM scratch\nCOPY udp-echo /udp-echo\nCMD [\"/udp-echo\", \"7\"]\n";
    fs::create_directories(project.dir() / "app");
    fs::create_directories(project.dir() / "share" / "sub");
    std::ofstream(project.dir() / "app" / "Containerfile")
        << "FROM vmtest/busybase:1\nCOPY message.txt /srv/message.txt\n"
           "CMD [\"sh\", \"-c\", \"echo started: $(cat /srv/message.txt); mkdir -p /www; "
           "cp /srv/message.txt /www/index.html; exec httpd -f -p 80 -h /www\"]\n";
    std::ofstream(project.dir() / "app" / "message.txt") << "from the context\n";
    std::ofstream(project.dir() / "app" / "secret.txt") << "never leaves the host\n";
    std::ofstream(project.dir() / "app" / ".dockerignore") << "secret.txt\n";
    std::ofstream(project.dir() / "share" / "sub" / "live.txt") << "shared from the host\n";

    const auto up = project.lcloud("up");
    INFO(up.output);
    REQUIRE(up.exit_code == 0);
    CHECK(up.output.find("copying vmtest/busybase:1 from this host's image store") !=
          std::string::npos);
    CHECK(up.output.find("carrying the build context of app") != std::string::npos);
    CHECK(up.output.find("app") != std::string::npos);

    const auto ps = project.lcloud("ps");
    INFO(ps.output);
    REQUIRE(ps.exit_code == 0);
    CHECK(ps.output.find("app") != std::string::npos);
    CHECK(ps.output.find("running") != std::string::npos);
    // The port as the host will see it: the VM binds it on every address.
    CHECK(ps.output.find("127.0.0.1:18080->80/tcp") != std::string::npos);
    CHECK(ps.output.find(fmt::format("127.0.0.1:{}->7/udp", udp_port)) != std::string::npos);
    CHECK(ps.output.find("127.0.0.2:18080->80/tcp") != std::string::npos);
    CHECK(ps.output.find(fmt::format("127.0.0.2:{}->7/udp", udp_port)) != std::string::npos);

    // The host's port reaches the container through the one forwarder and the VM (httpd may
    // take a moment to listen under TCG).
    const auto fetch = [](const char* ip = "127.0.0.1") {
        std::optional<std::string> answer;
        const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
        while (!answer && std::chrono::steady_clock::now() < deadline) {
            answer = tcp_exchange(18080, "GET / HTTP/1.0\r\n\r\n", 5000, ip);
            if (!answer) std::this_thread::sleep_for(std::chrono::milliseconds(200));
        }
        return answer;
    };
    const auto served = fetch();
    REQUIRE(served.has_value());
    CHECK(served->find("from the context") != std::string::npos);
    const auto served_second = fetch("127.0.0.2");
    REQUIRE(served_second.has_value());
    CHECK(served_second->find("from the context") != std::string::npos);
    CHECK(providers::forward::forwarder_pid(project.dir() / ".lcloud").has_value());

    // A datagram to the host's UDP port comes back from the container in the VM. UDP is lossy
    // and udp-echo may not be bound yet: a few tries, each a new datagram.
    const auto echo = [udp_port](const std::string& datagram, const char* ip = "127.0.0.1") {
        std::optional<std::string> answer;
        const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
        while (!answer && std::chrono::steady_clock::now() < deadline)
            answer = udp_exchange(udp_port, datagram, 1000, ip);
        return answer;
    };
    CHECK(echo("ping through the VM") == "ping through the VM");
    CHECK(echo("ping on a second address", "127.0.0.2") == "ping on a second address");

    CHECK(trimmed(project.lcloud("exec app -- cat /srv/message.txt").output) == "from the context");
    CHECK(project.lcloud("exec app -- test -e /srv/secret.txt").exit_code == 1);
    // A host path under a shared folder, and the folder's guest path, both reach the container.
    CHECK(trimmed(project.lcloud("exec app -- cat /srv/share/live.txt").output) ==
          "shared from the host");
    CHECK(trimmed(project.lcloud("exec app -- cat /srv/guest/sub/live.txt").output) ==
          "shared from the host");
    std::ofstream(project.dir() / "share" / "sub" / "live.txt") << "edited on the host\n";
    CHECK(trimmed(project.lcloud("exec app -- cat /srv/share/live.txt").output) ==
          "edited on the host");
    CHECK(project.lcloud("exec app -- sh -c 'exit 7'").exit_code == 7);

    const auto logs = project.lcloud("logs --tail 5 app");
    INFO(logs.output);
    CHECK(logs.output.find("started: from the context") != std::string::npos);

    const auto status = project.lcloud("--json status");
    REQUIRE(status.exit_code == 0);
    const auto status_json = nlohmann::json::parse(status.output);
    CHECK(status_json["state"] == "running");
    REQUIRE(status_json["containers"].size() == 2);
    for (const auto& container : status_json["containers"]) {
        CHECK((container["name"] == "app" || container["name"] == "echo"));
        CHECK(container["state"] == "running");
    }
    CHECK(status_json["containers"][0]["name"] != status_json["containers"][1]["name"]);

    // Nothing changed: nothing is carried, built or restarted.
    const auto again = project.lcloud("up");
    INFO(again.output);
    REQUIRE(again.exit_code == 0);
    CHECK(again.output.find("nothing was restarted") != std::string::npos);
    CHECK(again.output.find("carrying") == std::string::npos);
    CHECK(again.output.find("copying") == std::string::npos);

    // halt stops the forwarder; up brings the port back.
    REQUIRE(project.lcloud("halt").exit_code == 0);
    CHECK_FALSE(providers::forward::forwarder_pid(project.dir() / ".lcloud").has_value());
    CHECK_FALSE(tcp_exchange(18080, "GET / HTTP/1.0\r\n\r\n", 1000).has_value());
    CHECK_FALSE(udp_exchange(udp_port, "nobody listens", 500).has_value());
    REQUIRE(project.lcloud("up").exit_code == 0);
    const auto again_served = fetch();
    REQUIRE(again_served.has_value());
    CHECK(again_served->find("from the context") != std::string::npos);
    CHECK(echo("again after halt") == "again after halt");

    const auto destroy = project.lcloud("destroy");
    INFO(destroy.output);
    REQUIRE(destroy.exit_code == 0);
    CHECK(destroy.output.find("removed 2 containers (with the VM): ") != std::string::npos);
    CHECK(destroy.output.find("app, echo") != std::string::npos);
    CHECK(destroy.output.find("removed VM " + project.domain()) != std::string::npos);
    CHECK(destroy.output.find("port forwarder") != std::string::npos);
    CHECK_FALSE(providers::forward::forwarder_pid(project.dir() / ".lcloud").has_value());
    CHECK(project.leftovers().empty());
    CHECK(destroy.output.find("removed " + (project.dir() / ".lcloud").string()) !=
          std::string::npos);
    const auto halted = project.lcloud("ps");
    CHECK(halted.exit_code == 1);
    CHECK(halted.output.find("run 'lcloud up'") != std::string::npos);
    // Nothing of the environment stays beside its file, and a command after destroy makes none.
    CHECK_FALSE(fs::exists(project.dir() / ".lcloud"));
    MESSAGE("containers in the VM: " << std::chrono::duration_cast<std::chrono::seconds>(
                                            std::chrono::steady_clock::now() - started)
                                            .count()
                                     << " s");
}

// The containers of a provider-libvirt project, in the VM, as a user drives them: an image
// built from the project's context on a base image only this host's store has, exec, logs, a
// shared folder bound into the container, a no-op up, and destroy leaving nothing.
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
          "shared folders, a no-op up and destroy") {
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
    VmProject project(
        "", "shared_folders:\n  - host: ./share\n    guest: /lcloud/share\n",
        "  app:\n"
        "    build: ./app\n"
        "    ports: [\"18080:80\"]\n"
        "    volumes: [\"./share/sub:/srv/share\", \"/lcloud/share:/srv/guest:ro\"]\n");
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

    // The host's port reaches the container through the one forwarder and the VM (httpd may
    // take a moment to listen under TCG).
    const auto fetch = [] {
        std::optional<std::string> answer;
        const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
        while (!answer && std::chrono::steady_clock::now() < deadline) {
            answer = tcp_exchange(18080, "GET / HTTP/1.0\r\n\r\n", 5000);
            if (!answer) std::this_thread::sleep_for(std::chrono::milliseconds(200));
        }
        return answer;
    };
    const auto served = fetch();
    REQUIRE(served.has_value());
    CHECK(served->find("from the context") != std::string::npos);
    CHECK(providers::forward::forwarder_pid(project.dir() / ".lcloud").has_value());

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
    REQUIRE(status_json["containers"].size() == 1);
    CHECK(status_json["containers"][0]["name"] == "app");
    CHECK(status_json["containers"][0]["state"] == "running");

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
    REQUIRE(project.lcloud("up").exit_code == 0);
    const auto again_served = fetch();
    REQUIRE(again_served.has_value());
    CHECK(again_served->find("from the context") != std::string::npos);

    const auto destroy = project.lcloud("destroy");
    INFO(destroy.output);
    REQUIRE(destroy.exit_code == 0);
    CHECK(destroy.output.find("removed 1 container (with the VM): app") != std::string::npos);
    CHECK(destroy.output.find("removed VM " + project.domain()) != std::string::npos);
    CHECK(destroy.output.find("port forwarder") != std::string::npos);
    CHECK_FALSE(providers::forward::forwarder_pid(project.dir() / ".lcloud").has_value());
    CHECK(project.leftovers().empty());
    const auto halted = project.lcloud("ps");
    CHECK(halted.exit_code == 1);
    CHECK(halted.output.find("run 'lcloud up'") != std::string::npos);
    MESSAGE("containers in the VM: " << std::chrono::duration_cast<std::chrono::seconds>(
                                            std::chrono::steady_clock::now() - started)
                                            .count()
                                     << " s");
}

// The OCI config of a container made from an image and a spec, the way Docker makes it.
#include "agent/supervisor/bundle.hpp"
#include "common/error.hpp"
#include "support/temp_dir.hpp"

#include <doctest/doctest.h>
#include <fstream>

using namespace lcloud;
using namespace lcloud::agent;

namespace {

struct Fixture {
    test::TempDir dir;
    ContainerPaths paths{dir.path() / "c"};
    runtime::image::ImageConfig image;
    ContainerSpec spec;
    Fixture() {
        std::filesystem::create_directories(paths.rootfs() / "etc");
        std::ofstream(paths.rootfs() / "etc/passwd")
            << "root:x:0:0:root:/root:/bin/sh\napp:x:1000:1001::/home/app:/bin/sh\n";
        std::ofstream(paths.rootfs() / "etc/group") << "root:x:0:\nstaff:x:50:\n";
        image.entrypoint = std::vector<std::string>{"/bin/app"};
        image.cmd = std::vector<std::string>{"--serve"};
        image.env = {"PATH=/opt/bin", "MODE=image"};
        image.working_dir = "/srv";
        spec.id = "env.web";
        spec.service = "web";
        spec.image = "web:1";
    }
    runtime::oci::Config make() {
        return make_container_config(spec, image, paths, dir.path() / "volumes");
    }
};

} // namespace

TEST_CASE("agent bundle: the image's command, the spec's over it") {
    Fixture f;
    CHECK(f.make().process->args == std::vector<std::string>{"/bin/app", "--serve"});
    f.spec.command = std::vector<std::string>{"--once"};
    CHECK(f.make().process->args == std::vector<std::string>{"/bin/app", "--once"});
    f.spec.command.reset();
    f.spec.entrypoint = std::vector<std::string>{"/bin/sh"};
    CHECK(f.make().process->args == std::vector<std::string>{"/bin/sh"}); // drops image's cmd
    f.spec.entrypoint = std::vector<std::string>{};
    f.image.cmd.reset();
    CHECK_THROWS_WITH_AS(f.make(), doctest::Contains("command"), Error);
}

TEST_CASE("agent bundle: environment, working directory, hostname") {
    Fixture f;
    f.spec.env["MODE"] = "spec";
    f.spec.replica = 2;
    const auto config = f.make();
    const auto& env = config.process->env;
    CHECK(std::find(env.begin(), env.end(), "PATH=/opt/bin") != env.end());
    CHECK(std::find(env.begin(), env.end(), "MODE=spec") != env.end());
    CHECK(std::find(env.begin(), env.end(), "MODE=image") == env.end());
    CHECK(std::find(env.begin(), env.end(), "HOSTNAME=web-2") != env.end());
    CHECK(config.hostname == "web-2");
    CHECK(config.process->cwd == "/srv");
    CHECK_FALSE(config.root.readonly);
}

TEST_CASE("agent bundle: users by name and number, from the container's own files") {
    Fixture f;
    f.spec.user = "app";
    auto user = f.make().process->user;
    CHECK(user.uid == 1000);
    CHECK(user.gid == 1001);
    f.spec.user = "app:staff";
    CHECK(f.make().process->user.gid == 50);
    f.spec.user = "4242:7";
    user = f.make().process->user;
    CHECK(user.uid == 4242);
    CHECK(user.gid == 7);
    f.spec.user = "ghost";
    CHECK_THROWS_WITH_AS(f.make(), doctest::Contains("ghost"), Error);
    // A passwd that is a symlink to the host's is read inside the root, where it leads nowhere.
    std::filesystem::remove(f.paths.rootfs() / "etc/passwd");
    std::filesystem::create_symlink("/etc/passwd", f.paths.rootfs() / "etc/passwd");
    f.spec.user = "root";
    CHECK_THROWS_AS(f.make(), Error);
}

TEST_CASE("agent bundle: volumes, tmpfs, resources and the files lcloud writes") {
    Fixture f;
    f.spec.mounts = {{"volume", "env_data", "/data", false},
                     {"bind", f.dir.path().string(), "/host", true},
                     {"tmpfs", "", "/scratch", false}};
    f.spec.memory_bytes = 64 << 20;
    f.spec.cpus = 0.5;
    const auto config = f.make();
    auto find = [&](const std::string& destination) {
        for (const auto& mount : config.mounts)
            if (mount.destination == destination) return mount;
        FAIL("no mount at " << destination);
        return runtime::oci::Mount{};
    };
    CHECK(find("/etc/hosts").source == f.paths.hosts().string());
    CHECK(find("/etc/resolv.conf").type == "bind");
    CHECK(find("/data").source == (f.dir.path() / "volumes/env_data/data").string());
    const auto host = find("/host");
    CHECK(std::find(host.options.begin(), host.options.end(), "ro") != host.options.end());
    CHECK(find("/scratch").type == "tmpfs");
    CHECK(config.linux.resources->memory->limit == 64 << 20);
    CHECK(config.linux.resources->cpu->quota == 50000);
    f.spec.mounts = {{"bind", "/no/such/dir", "/x", false}};
    CHECK_THROWS_WITH_AS(f.make(), doctest::Contains("/no/such/dir"), Error);
}

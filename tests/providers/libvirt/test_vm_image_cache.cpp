// The image cache: destroy keeps what the VM built, and the next cold up of the project starts
// from it, while containers and named volumes still go with destroy. A build that changed since
// replaces the cache at the next destroy; `destroy --images` removes it.
#include "providers/libvirt/vm_fixture.hpp"

#include "providers/libvirt/image_cache.hpp"

using namespace lcloud;
using namespace lcloud::test;
namespace fs = std::filesystem;
namespace lv = lcloud::providers::libvirt;

TEST_CASE("vm: destroy keeps the VM's images for the next cold up, and not its containers or "
          "volumes") {
    use_test_box();
    VmProject project("", "", "  idle:\n    build: ./idle\n    volumes: [\"data:/data\"]\n");
    project.write_idle_context("idle");
    const auto cache = lv::image_cache_file(project.domain());
    fs::remove(cache);
    const auto up_and_write = [&](const std::string& expect_built) {
        const auto up = project.lcloud("up");
        INFO(up.output);
        REQUIRE(up.exit_code == 0);
        CHECK(up.output.find(expect_built) != std::string::npos);
        // What a container writes, in its own layer and in a named volume.
        const auto wrote = project.lcloud(
            "exec idle -- /bin/busybox sh -c 'test ! -e /mine && test ! -e /data/mine && "
            "echo x >/mine && echo x >/data/mine && echo fresh'");
        INFO(wrote.output);
        CHECK(wrote.output.find("fresh") != std::string::npos);
        return up.output;
    };
    const auto destroy = [&](const std::string& args = "") {
        const auto destroyed = project.lcloud("destroy" + args);
        INFO(destroyed.output);
        REQUIRE(destroyed.exit_code == 0);
        CHECK(project.leftovers().empty());
        return destroyed.output;
    };

    up_and_write("built vmtest/idle:latest: 3 steps, 0 from the cache");
    const auto first_destroy = destroy();
    CHECK(first_destroy.find(fmt::format("kept the images in {} (", cache.string())) !=
          std::string::npos);
    CHECK(first_destroy.find("kept the boot checkpoint " +
                             lv::checkpoint_file(project.domain()).string()) != std::string::npos);
    REQUIRE(fs::exists(cache));

    // A cold up again: its images are there, its containers and volumes are not.
    const auto seeded = up_and_write("built vmtest/idle:latest: 3 steps, 2 from the cache");
    CHECK(seeded.find("starting from the images that the last destroy kept in " + cache.string()) !=
          std::string::npos);
    // Its boot too: the checkpoint that destroy kept restores for the new domain.
    CHECK(seeded.find("starting " + project.domain() + " from its boot checkpoint") !=
          std::string::npos);
    CHECK(seeded.find("booting") == std::string::npos);
    // reset on a data disk that is an overlay of the cache: its pristine snapshot, then the
    // checkpoint again (a version 2 qcow2 overlay showed the cache's stale blocks here).
    const auto reset = project.lcloud("reset");
    INFO(reset.output);
    REQUIRE(reset.exit_code == 0);
    const auto after_reset = project.lcloud(
        "exec idle -- /bin/busybox sh -c 'test ! -e /mine && test ! -e /data/mine && echo anew'");
    CHECK(trimmed(after_reset.output) == "anew");
    // Unchanged: the cache stays as it was.
    const auto before = fs::last_write_time(cache);
    CHECK(destroy().find("kept the images in " + cache.string() + " for the next up") !=
          std::string::npos);
    CHECK(fs::last_write_time(cache) >= before);

    // A build that changed on a cold up from the cache: the next destroy keeps the new images.
    std::ofstream(project.dir() / "idle" / "Containerfile", std::ios::app) << "ENV CHANGED=1\n";
    up_and_write("built vmtest/idle:latest: 4 steps, 2 from the cache");
    CHECK(destroy().find(fmt::format("kept the images in {} (", cache.string())) !=
          std::string::npos);
    up_and_write("built vmtest/idle:latest: 4 steps, 3 from the cache");
    const auto env = project.lcloud("exec idle -- /bin/busybox sh -c 'echo $CHANGED'");
    CHECK(trimmed(env.output) == "1");

    CHECK(destroy(" --images").find("removed the image cache " + cache.string()) !=
          std::string::npos);
    CHECK_FALSE(fs::exists(cache));
    CHECK_FALSE(fs::exists(lv::checkpoint_file(project.domain())));
}

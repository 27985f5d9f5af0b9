// `lcloud box build`, for real: Debian's kernel from apt, the initramfs, the manifest.
#include "box/box_build.hpp"
#include "box/guest_init.hpp"

#include "support/env_guard.hpp"
#include "support/run_command.hpp"
#include "support/temp_dir.hpp"

#include <doctest/doctest.h>
#include <fmt/format.h>

using namespace lcloud;
using namespace lcloud::test;
namespace fs = std::filesystem;

TEST_CASE(
    "box: box build makes a kernel, an initramfs with the agent and the init, and a manifest") {
    TempDir data;
    EnvGuard xdg("XDG_DATA_HOME", data.path().string());
    const auto started = std::chrono::steady_clock::now();
    const auto build = run_command(fmt::format("{} box build", LCLOUD_BINARY));
    const auto took = std::chrono::steady_clock::now() - started;
    INFO(build.output);
    REQUIRE(build.exit_code == 0);
    CHECK(build.output.find("==> assembling the initramfs") != std::string::npos);
    CHECK(took < std::chrono::seconds(60));

    const auto box = box::find_box(box::default_box);
    REQUIRE(box);
    CHECK(box->manifest["kind"] == "initramfs");
    CHECK(box->manifest["agent_sha256"] == box::file_digest(LCLOUD_AGENT_BINARY));
    const std::string release = box->manifest["kernel"]["release"];
    CHECK(release.ends_with("-amd64"));
    CHECK_NOTHROW(box::verify_box(*box));
    // The kernel is the uncompressed ELF (booted through its PVH entry).
    CHECK(run_command("head -c 4 " + box->file("kernel")->string()).output == "\x7f"
                                                                              "ELF");

    const auto listing = run_command("cpio -it --quiet < " + box->file("initrd")->string());
    REQUIRE(listing.exit_code == 0);
    const std::string names = "\n" + listing.output;
    for (const auto& path : {"init", "usr/bin/lcloud-agent", "usr/sbin/dropbear", "sbin/mke2fs",
                             "bin/busybox", "bin/sh", "lib64/ld-linux-x86-64.so.2"})
        CHECK_MESSAGE(names.find(std::string("\n") + path + "\n") != std::string::npos, path);
    for (const auto& module : {"9p.ko", "9pnet_virtio.ko", "virtio_net.ko", "ext4.ko", "overlay.ko",
                               "veth.ko", "bridge.ko", "nf_tables.ko"})
        CHECK_MESSAGE(listing.output.find(std::string("/") + module + "\n") != std::string::npos,
                      module);
    CHECK(listing.output.find("lib/modules/" + release + "/modules.alias") != std::string::npos);
    // No module the box does not need: no sound, no GPU.
    CHECK(listing.output.find("/sound/") == std::string::npos);
    CHECK(listing.output.find("/gpu/") == std::string::npos);

    // The agent and its libraries are on their own disk image, not in the initramfs.
    REQUIRE(box->file("agent"));
    const auto agent_files =
        run_command("debugfs -R 'ls -p /usr/bin' " + box->file("agent")->string(), true);
    CHECK(agent_files.output.find("/lcloud-agent/") != std::string::npos);
    CHECK(listing.output.find("libicudata") == std::string::npos);

    const auto list = run_command(fmt::format("{} box list", LCLOUD_BINARY));
    CHECK(list.output.find("lcloud/base") != std::string::npos);
    CHECK(run_command(fmt::format("{} box remove lcloud/base", LCLOUD_BINARY)).exit_code == 0);
    CHECK_FALSE(box::find_box(box::default_box));
}

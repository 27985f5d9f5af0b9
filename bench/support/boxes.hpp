#pragma once

// The boxes the VM benchmarks boot, built once and kept as caches (never removed, never timed):
// lcloud's lcloud/base in a data directory of the benchmarks' own, and the Vagrant peer's
// baseline/busybox with its guest kernel and initrd (/work/shared/peers/vagrant/build-box.sh).

#include "box/guest_init.hpp"
#include "libvirt.hpp"
#include "logs.hpp"
#include "process.hpp"
#include "runtime/image/sha256.hpp"

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

namespace lcloud::bench {

// Whether the newest lcloud/base under `data` has this build's init. A box with another keeps
// the SSH key on its command line, so its boot checkpoint does not outlive a destroy: the
// figures would not be this lcloud's.
inline bool lcloud_box_current(const fs::path& data) {
    const auto versions = data / "lcloud" / "boxes" / "lcloud" / "base";
    std::error_code error;
    fs::path newest;
    for (const auto& entry : fs::directory_iterator(versions, error))
        if (entry.is_directory() && entry.path() > newest) newest = entry.path();
    if (newest.empty()) return false;
    const auto manifest =
        nlohmann::json::parse(std::ifstream(newest / "manifest.json"), nullptr, false);
    return manifest.is_object() &&
           manifest.value("init_sha256", "") == runtime::image::sha256_digest(box::guest_init);
}

// `lcloud box build` when `lcloud box list` (with XDG_DATA_HOME=data) lacks lcloud/base, or
// when its newest has another init than this build's.
inline void ensure_lcloud_box(const std::string& lcloud, const fs::path& data, Logs& logs) {
    const std::vector<std::string> env = {"XDG_DATA_HOME=" + data.string()};
    const auto boxes =
        run_checked({lcloud, "box", "list"}, logs.options("setup-lcloud-box-list", env));
    for (const auto& line : output_lines(boxes.output))
        if (line.rfind("lcloud/base ", 0) == 0 && lcloud_box_current(data)) return;
    std::printf("setup: lcloud box build (XDG_DATA_HOME=%s), untimed\n", data.c_str());
    run_checked({lcloud, "box", "build"}, logs.options("setup-lcloud-box-build", env));
}

// The peer's build-box.sh with WORK=vagrant_work when `vagrant box list` lacks baseline/busybox
// or its guest (vagrant_work/guest/{vmlinuz,initrd.gz}) is missing.
inline void ensure_vagrant_box(const fs::path& peer_dir, const fs::path& vagrant_work, Logs& logs) {
    const auto boxes =
        run_checked({"vagrant", "box", "list"}, logs.options("setup-vagrant-box-list", {}));
    bool have_box = false;
    for (const auto& line : output_lines(boxes.output))
        have_box = have_box || line.rfind("baseline/busybox ", 0) == 0;
    const fs::path guest = vagrant_work / "guest";
    if (have_box && fs::exists(guest / "vmlinuz") && fs::exists(guest / "initrd.gz")) return;
    std::vector<std::string> env = {"WORK=" + vagrant_work.string()};
    // The kernel package lcloud's box build fetched, when it is there: no download then.
    const char* cache = std::getenv("XDG_CACHE_HOME");
    const char* home = std::getenv("HOME");
    const fs::path packages =
        cache && *cache ? fs::path(cache) / "lcloud/packages"
                        : fs::path(home && *home ? home : "/root") / ".cache/lcloud/packages";
    std::error_code error;
    for (const auto& entry : fs::directory_iterator(packages, error))
        if (entry.path().filename().string().rfind("linux-image-6.1.0-56-amd64_", 0) == 0)
            env.push_back("KERNEL_DEB=" + entry.path().string());
    std::printf("setup: %s/build-box.sh (WORK=%s), untimed\n", peer_dir.c_str(),
                vagrant_work.c_str());
    run_checked({"sh", (peer_dir / "build-box.sh").string()},
                logs.options("setup-vagrant-build-box", env));
}

} // namespace lcloud::bench

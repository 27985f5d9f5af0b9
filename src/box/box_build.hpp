#pragma once

#include "box/box_store.hpp"
#include "box/kernel.hpp"

#include <filesystem>
#include <string>

namespace lcloud::box {

struct BuildOptions {
    std::string name = default_box;
    std::filesystem::path agent;          // lcloud-agent to put in the box
    std::filesystem::path cache;          // where downloaded packages are kept
    std::string busybox = "/bin/busybox"; // Debian's busybox-static
    std::string dropbear = "/usr/sbin/dropbear";
};

// The kernel command line a built box records: flags for a fast, quiet boot under TCG. The
// provider adds the machine's own lcloud.* flags.
std::string kernel_cmdline();

// ${XDG_CACHE_HOME:-~/.cache}/lcloud/packages
std::filesystem::path default_package_cache();

// Builds an initramfs box: Debian's kernel (decompressed), the modules the box needs, busybox,
// dropbear, mke2fs, lcloud-agent with its libraries, and the init in src/box/guest/init.
Box build_box(const BuildOptions& options, const Progress& progress);

} // namespace lcloud::box

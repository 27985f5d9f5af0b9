#pragma once

// `lcloud image bootstrap`: a Debian base image made with debootstrap from a Debian mirror, as a
// one-layer image of the store.

#include "runtime/image/build/build.hpp"
#include "runtime/image/store.hpp"

#include <filesystem>
#include <string>
#include <vector>

namespace lcloud::runtime::image::build {

struct BootstrapOptions {
    std::string tag; // NAME[:TAG], required
    std::string suite = "bookworm";
    std::vector<std::string> include; // extra packages
    // Empty: the first `deb` URL of this machine's apt sources (default_mirror).
    std::string mirror;
    std::string variant = "minbase";
    // Where the tree is made; empty: under the store's tmp/.
    std::filesystem::path work_dir;
    Compression compression = Compression::gzip;
};

// Runs debootstrap into a temporary tree (its output goes to `progress`), empties apt's package
// lists and caches, and commits the tree as one layer with Env PATH and Cmd ["/bin/bash"]. Throws
// ImageError with debootstrap's last output lines when it fails; the tree, and whatever
// debootstrap mounted in it, are gone either way.
ImportedImage bootstrap_image(Store& store, const BootstrapOptions& options,
                              const Progress& progress);

// The first `deb` URL in APT_DIR/sources.list, then APT_DIR/sources.list.d/*.list and *.sources
// (deb822) in name order. Throws ImageError when there is none.
std::string default_mirror(const std::filesystem::path& apt_dir = "/etc/apt");

// Unmounts (detached) every mount at or below `dir`, deepest first.
void unmount_below(const std::filesystem::path& dir);

// Removes `dir` and everything in it without crossing into another file system: a mount that
// could not be taken away is left, never emptied.
void remove_tree(const std::filesystem::path& dir) noexcept;

} // namespace lcloud::runtime::image::build

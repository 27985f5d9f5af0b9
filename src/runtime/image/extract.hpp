#pragma once

#include "runtime/image/layer_stream.hpp"

#include <cstdint>
#include <filesystem>
#include <string_view>

namespace lcloud::runtime::image {

// What one layer may hold before it is taken for an attack on the disk.
struct ExtractLimits {
    uint64_t max_entries = 2'000'000;
    // Of the uncompressed tar stream, and of the sizes its headers declare.
    uint64_t max_bytes = 64ull << 30;
};

// Unpacks the layer archive (tar, or tar compressed with gzip or zstd) open at `fd` into `dest`,
// which must not exist yet and is created. No entry can write outside `dest`: absolute paths,
// ".." components and symlinked or non-directory parents are refused, symlinks are created as
// they are and never followed, hardlinks must point inside. Keeps file types (devices and fifos
// too), modes with setuid bits, numeric owners, mtimes and xattrs. OCI whiteouts become overlayfs
// ones: ".wh.NAME" a 0:0 character device NAME, ".wh..wh..opq" the xattr
// trusted.overlay.opaque="y" on its directory. `name` is shown in errors.
//
// Throws UnsafeArchive (or ImageError, SystemError); then `dest` is removed with everything in it.
LayerDigests extract_layer(int fd, const std::filesystem::path& dest, std::string_view name,
                           const ExtractLimits& limits = {});

// The whiteout conventions of the OCI image spec.
inline constexpr std::string_view whiteout_prefix = ".wh.";
inline constexpr std::string_view opaque_marker = ".wh..wh..opq";
inline constexpr const char* opaque_xattr = "trusted.overlay.opaque";

} // namespace lcloud::runtime::image

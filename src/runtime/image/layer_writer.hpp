#pragma once

// A directory as an OCI layer tar: the inverse of extract_layer. The directory is in overlayfs
// form (the upper directory of a container, or any plain tree): a 0:0 character device NAME
// becomes the whiteout ".wh.NAME", a directory with trusted.overlay.opaque="y" gets
// ".wh..wh..opq". Keeps file types, modes with setuid bits, numeric owners, mtimes, symlinks,
// hardlinks within the directory and xattrs (but overlayfs's own).

#include "runtime/image/layer_stream.hpp"

#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

namespace lcloud::runtime::image {

struct WrittenLayer {
    std::string digest; // of the bytes written (the blob)
    uint64_t size = 0;
};

// Writes the layer to `out_fd` (tar, or tar compressed with gzip or zstd); entries in name
// order, so the same tree gives the same tar. Throws SystemError naming the file it could not
// read, ImageError when libarchive fails.
WrittenLayer write_layer(const std::filesystem::path& dir, int out_fd, Compression compression);

// The names in a directory (an open fd), sorted: what is written does not depend on the file
// system's order. `shown` names the directory in errors.
std::vector<std::string> sorted_entries(int dir_fd, const std::string& shown);

// True when the directory holds nothing: a step that changed no file makes no layer.
bool directory_is_empty(const std::filesystem::path& dir);

} // namespace lcloud::runtime::image

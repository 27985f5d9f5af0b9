#pragma once

// A build context as one tar, to carry it to a builder on another machine (the VM): what
// .dockerignore excludes stays behind (the .dockerignore itself goes, so that the builder
// applies the same rules), symlinks stay links (never followed out of the context), and
// sockets, fifos and devices are left out.

#include <cstdint>
#include <filesystem>
#include <string>

namespace lcloud::runtime::image::build {

// The tar's layout: the context under "context/", the Containerfile (wherever it was) as
// "Containerfile".
inline constexpr const char* packed_context_dir = "context";
inline constexpr const char* packed_containerfile = "Containerfile";

struct PackedContext {
    std::string digest; // sha256 of the tar's bytes: the same tree gives the same digest
    uint64_t size = 0;
    uint64_t files = 0;
};

// Writes the tar to `out_fd`. Owners are 0:0 (as COPY makes them without --chown); modes and
// modification times are kept. Throws SystemError naming what could not be read, ImageError
// when libarchive fails.
PackedContext pack_context(const std::filesystem::path& context,
                           const std::filesystem::path& containerfile, int out_fd);

} // namespace lcloud::runtime::image::build

#pragma once

#include "archive_builder.hpp"
#include "common/fd.hpp"
#include "runtime/image/extract.hpp"
#include "support/temp_dir.hpp"

#include <algorithm>
#include <filesystem>
#include <stdexcept>
#include <string>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <unistd.h>
#include <vector>

namespace lcloud::test::image {

// `content` in an anonymous file, read from its start.
inline Fd memory_file(const std::string& content) {
    Fd fd(::memfd_create("layer", MFD_CLOEXEC));
    if (!fd) throw std::runtime_error("memfd_create failed");
    size_t done = 0;
    while (done < content.size()) {
        const ssize_t count = ::write(fd.get(), content.data() + done, content.size() - done);
        if (count <= 0) throw std::runtime_error("write to memfd failed");
        done += static_cast<size_t>(count);
    }
    ::lseek(fd.get(), 0, SEEK_SET);
    return fd;
}

inline runtime::image::LayerDigests extract_blob(const std::string& blob,
                                                 const std::filesystem::path& dest,
                                                 const runtime::image::ExtractLimits& limits = {}) {
    const Fd fd = memory_file(blob);
    return runtime::image::extract_layer(fd.get(), dest, "test-layer", limits);
}

inline struct stat lstat_of(const std::filesystem::path& path) {
    struct stat st {};
    if (::lstat(path.c_str(), &st) != 0) throw std::runtime_error("lstat " + path.string());
    return st;
}

// The xattr's value, or "<none>".
inline std::string xattr_of(const std::filesystem::path& path, const char* name) {
    char value[256];
    const ssize_t size = ::lgetxattr(path.c_str(), name, value, sizeof value);
    return size < 0 ? std::string("<none>") : std::string(value, static_cast<size_t>(size));
}

// Everything below `dir`, as "relative/path" lines; empty when `dir` is empty or missing.
inline std::string listing(const std::filesystem::path& dir) {
    std::vector<std::string> paths;
    std::error_code error;
    for (auto it = std::filesystem::recursive_directory_iterator(dir, error);
         !error && it != std::filesystem::recursive_directory_iterator(); it.increment(error))
        paths.push_back(std::filesystem::relative(it->path(), dir).string());
    std::sort(paths.begin(), paths.end());
    std::string lines;
    for (const auto& path : paths)
        lines += path + "\n";
    return lines;
}

} // namespace lcloud::test::image

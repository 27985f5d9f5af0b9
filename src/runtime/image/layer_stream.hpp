#pragma once

// Reads a layer blob as tar entries in one pass, hashing on the way both the blob as stored (its
// digest) and the tar stream inside it (its diff_id). libarchive detects the compression: a raw
// reader decompresses, a tar reader parses what the raw reader yields.

#include "runtime/image/sha256.hpp"

#include <archive.h>
#include <archive_entry.h>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace lcloud::runtime::image {

enum class Compression { none, gzip, zstd, other };

struct LayerDigests {
    std::string blob_digest; // of the bytes read from the file
    uint64_t blob_size = 0;
    std::string diff_id; // of the uncompressed tar stream
    uint64_t tar_size = 0;
    Compression compression = Compression::none;
};

struct ArchiveReadFree {
    void operator()(archive* handle) const { archive_read_free(handle); }
};
using ReadArchive = std::unique_ptr<archive, ArchiveReadFree>;

class LayerStream {
  public:
    // Reads from `fd` (not owned) from its current offset. `name` is shown in errors. More than
    // `max_tar_bytes` of uncompressed tar stream is refused (UnsafeArchive).
    LayerStream(int fd, std::string name, uint64_t max_tar_bytes);
    LayerStream(const LayerStream&) = delete;
    LayerStream& operator=(const LayerStream&) = delete;
    ~LayerStream();

    // The next tar entry, or nullptr after the last one. Throws ImageError on a corrupt stream.
    archive_entry* next();
    // The tar reader, to read the current entry's data with archive_read_data_block.
    archive* tar() const { return tar_.get(); }
    // Throws the error behind a failed libarchive call on tar(), naming `entry`.
    [[noreturn]] void fail(const std::string& entry, const std::string& action) const;
    // After next() returned nullptr: reads the rest of the file and returns the digests.
    LayerDigests finish();
    Compression compression() const { return compression_; }

  private:
    static la_ssize_t read_file(archive* handle, void* self, const void** buffer);
    static la_ssize_t read_tar(archive* handle, void* self, const void** buffer);

    int fd_;
    std::string name_;
    uint64_t max_tar_bytes_;
    std::vector<char> file_buffer_;
    std::vector<char> tar_buffer_;
    Sha256 blob_hash_;
    Sha256 tar_hash_;
    uint64_t blob_size_ = 0;
    uint64_t tar_size_ = 0;
    bool too_large_ = false;
    bool hash_blob_ = true;
    Compression compression_ = Compression::none;
    ReadArchive raw_;
    ReadArchive tar_;
};

// The digests of a layer blob, read to its end without unpacking anything.
LayerDigests hash_layer(int fd, const std::string& name, uint64_t max_tar_bytes);

} // namespace lcloud::runtime::image

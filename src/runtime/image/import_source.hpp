#pragma once

// Where an import reads from: an image archive (docker save, OCI layout as a tar) or an OCI
// layout directory. Paths are those inside the archive or directory ("blobs/sha256/<hex>",
// "manifest.json"); they are only ever looked up, never used to create files.

#include "runtime/image/store_files.hpp"

#include <filesystem>
#include <map>
#include <memory>
#include <optional>
#include <string>

namespace lcloud::runtime::image {

class ImportSource {
  public:
    virtual ~ImportSource() = default;
    virtual bool has(const std::string& path) const = 0;
    // The file's content, verified against `expected` when given. Throws ImageError when it is
    // missing or larger than `limit`, DigestMismatch when it hashes otherwise.
    virtual std::string read(const std::string& path, const std::optional<std::string>& expected,
                             uint64_t limit = 16 << 20) = 0;
    // Puts the file into the store's blobs, verified against `expected` when given.
    virtual StoredBlob store_blob(const std::string& path,
                                  const std::optional<std::string>& expected) = 0;
    // What the user named, for messages.
    const std::string& name() const { return name_; }

  protected:
    explicit ImportSource(std::string name) : name_(std::move(name)) {}
    [[noreturn]] void missing(const std::string& path) const;

  private:
    std::string name_;
};

// A tar (plain, gzip or zstd) read once: its regular files are staged in the store's tmp/ and
// hashed on the way; blobs are then renamed into place, not copied again. Hardlinks and
// symlinks between its files are followed by name, inside the archive. More than `max_bytes`
// of uncompressed archive is refused.
std::unique_ptr<ImportSource> open_archive_source(const std::filesystem::path& archive,
                                                  const StoreFiles& files, uint64_t max_bytes);

// A directory: files are opened beneath it, never through a symlink that leads out.
std::unique_ptr<ImportSource> open_directory_source(const std::filesystem::path& dir,
                                                    const StoreFiles& files);

} // namespace lcloud::runtime::image

#pragma once

// The files of the store under its root:
//   blobs/sha256/<hex>          blobs as imported (compressed layers, configs, manifests)
//   layers/sha256/<diff_id hex> each layer unpacked once
//   diffids/sha256/<blob hex>   the diff_id a layer blob was verified to have
//   images.json                 NAME:TAG -> manifest digest
//   tmp/                        what is being written, renamed into place when whole
//   store.lock, images.lock     flock()s (see store.hpp)

#include "common/fd.hpp"
#include "runtime/image/extract.hpp"

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>

namespace lcloud::runtime::image {

struct StoredBlob {
    std::string digest;
    uint64_t size = 0;
};

class StoreFiles {
  public:
    // Creates the directories that are missing.
    StoreFiles(std::filesystem::path root, bool durable);

    const std::filesystem::path& root() const { return root_; }
    std::filesystem::path blob_path(std::string_view digest) const;
    std::filesystem::path layer_path(std::string_view diff_id) const;
    std::filesystem::path blobs_dir() const { return root_ / "blobs/sha256"; }
    std::filesystem::path layers_dir() const { return root_ / "layers/sha256"; }
    std::filesystem::path diff_ids_dir() const { return root_ / "diffids/sha256"; }
    std::filesystem::path tmp_dir() const { return root_ / "tmp"; }
    std::filesystem::path index_path() const { return root_ / "images.json"; }
    std::filesystem::path store_lock_path() const { return root_ / "store.lock"; }
    std::filesystem::path index_lock_path() const { return root_ / "images.lock"; }
    // A fresh name in tmp/ for this process.
    std::filesystem::path temp_path(std::string_view kind) const;
    bool durable() const { return durable_; }

    bool has_blob(std::string_view digest) const;
    // Copies the rest of `fd` into the blobs, hashing on the way. With `expected`, content that
    // hashes otherwise is refused: DigestMismatch naming `what`.
    StoredBlob put_blob(int fd, const std::optional<std::string>& expected,
                        const std::string& what) const;
    StoredBlob put_blob(std::string_view content) const;
    // Moves `file`, whose digest was computed as it was written, into the blobs.
    void adopt_blob(const std::filesystem::path& file, const std::string& digest) const;
    Fd open_blob(std::string_view digest, const std::string& what) const;
    // The blob's content, verified against its digest; refused past `limit` bytes.
    std::string read_blob(std::string_view digest, const std::string& what,
                          uint64_t limit = 16 << 20) const;

    // Unpacks the blob as layer `diff_id` unless that layer is there already. Either way the
    // blob's tar stream must hash to `diff_id` (DigestMismatch naming `what`). Safe against
    // concurrent imports of the same layer: unpacked in tmp/, renamed into place, the loser's
    // copy dropped.
    void ensure_layer(std::string_view blob_digest, std::string_view diff_id,
                      const ExtractLimits& limits, const std::string& what) const;

    // Unpacks the blob as a new layer, named by the diff_id its tar stream hashes to.
    LayerDigests add_layer(std::string_view blob_digest, const ExtractLimits& limits,
                           const std::string& what) const;

  private:
    // The diff_id recorded for a blob once verified; empty when none is.
    std::string recorded_diff_id(std::string_view blob_digest) const;
    void record_diff_id(std::string_view blob_digest, const std::string& diff_id) const;
    // Unpacks into tmp/, checks, renames into layers/ unless the layer is there already.
    LayerDigests unpack(std::string_view blob_digest, const std::optional<std::string>& diff_id,
                        const ExtractLimits& limits, const std::string& what) const;

    std::filesystem::path root_;
    bool durable_;
};

// Removes a path (recursively) when it goes out of scope, unless dismissed.
class RemoveGuard {
  public:
    explicit RemoveGuard(std::filesystem::path path) : path_(std::move(path)) {}
    RemoveGuard(const RemoveGuard&) = delete;
    RemoveGuard& operator=(const RemoveGuard&) = delete;
    ~RemoveGuard();
    void dismiss() { path_.clear(); }

  private:
    std::filesystem::path path_;
};

} // namespace lcloud::runtime::image

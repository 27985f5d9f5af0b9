#pragma once

// The image store: blobs and layers by content, images by NAME:TAG (see store_files.hpp for the
// files under its root).
//
// Concurrency: imports and saves hold store.lock shared; remove and prune hold it exclusive, so
// they never collect what an import is still writing. The index is changed under images.lock.

#include "runtime/image/extract.hpp"
#include "runtime/image/image_index.hpp"
#include "runtime/image/oci.hpp"
#include "runtime/image/reference.hpp"
#include "runtime/image/store_files.hpp"

#include <cstdint>
#include <filesystem>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace lcloud::runtime::image {

struct StoreOptions {
    ExtractLimits limits;
    // fsync blobs and syncfs layers before renaming them into place, so that a power loss never
    // leaves a torn one that looks whole.
    bool durable = true;
};

struct ImportedImage {
    Reference reference;
    std::string id; // the config digest, as Docker shows it
    std::string manifest_digest;
};

struct ImageSummary {
    Reference reference;
    std::string id;
    std::string manifest_digest;
    std::string created;
    uint64_t size = 0; // of its blobs as stored
};

struct LayerInfo {
    Descriptor blob;
    std::string diff_id;
    std::filesystem::path path; // unpacked
};

struct ImageDetails {
    std::string id;
    std::string manifest_digest;
    std::vector<Reference> references; // every NAME:TAG of this image
    Manifest manifest;
    ImageConfig config;
    std::vector<LayerInfo> layers; // bottom first
};

struct RemoveResult {
    std::vector<Reference> untagged;
    std::vector<std::string> deleted; // blobs and layers, as "blob sha256:..." / "layer sha256:..."
};

struct PruneResult {
    std::vector<std::string> deleted;
    uint64_t bytes_freed = 0;
};

// Tells whether a container uses the image with this id (config digest).
using InUse = std::function<bool(std::string_view image_id)>;

class Store {
  public:
    // Creates the store's directories under `root` when missing.
    explicit Store(std::filesystem::path root, StoreOptions options = {});

    // A `docker save` tar (legacy or OCI-style), or an OCI image layout as a tar or a directory.
    // The images keep the names the archive gives them unless `name` is given, which an archive
    // of one image takes instead. Every blob is verified against its digest and every layer
    // against its diff_id. Throws ImageError (DigestMismatch, UnsafeArchive) naming the blob.
    std::vector<ImportedImage> import_archive(const std::filesystem::path& path,
                                              const std::optional<Reference>& name = {});

    // A plain root file system tarball (tar, tar+gzip or tar+zstd) as a one-layer image.
    ImportedImage import_rootfs(const std::filesystem::path& tarball, const Reference& name);

    std::vector<ImageSummary> list() const;
    // `reference`: NAME[:TAG], or an image id ("sha256:<hex>" or a unique hex prefix).
    ImageDetails inspect(std::string_view reference) const;
    void tag(std::string_view source, const Reference& target);
    // Untags `reference` (every tag of the image when it is an id) and deletes what no image
    // references any more. Refused (ImageInUse) when the image would go while `in_use` says a
    // container uses it.
    RemoveResult remove(std::string_view reference, const InUse& in_use);
    // Deletes the blobs and layers no image references, and what killed imports left in tmp/.
    PruneResult prune();
    // Writes the image as an OCI image layout tar (oci-layout, index.json, blobs/sha256/...)
    // that skopeo (oci-archive:) and umoci read.
    void save(std::string_view reference, const std::filesystem::path& output) const;

    // A directory in overlayfs form (a container's upper directory, or any tree) as a new layer:
    // written as a tar blob (compressed with `compression`), stored, and unpacked from that
    // blob like an imported one. The directory itself is left as it is.
    LayerInfo create_layer(const std::filesystem::path& dir,
                           Compression compression = Compression::gzip);
    // Whether the layer's blob and its unpacked directory are both in the store (prune deletes
    // what no image references).
    bool has_layer(const LayerInfo& layer) const;
    // An image of `layers` (bottom first, all in the store: imported or made by create_layer)
    // and `config_json`, an OCI image config whose rootfs.diff_ids name those layers in order;
    // tagged `name`. Throws ImageError naming what does not match.
    ImportedImage commit(const std::vector<LayerInfo>& layers, const std::string& config_json,
                         const Reference& name);

    // The image's unpacked layers, top layer first: overlayfs lowerdir order.
    std::vector<std::filesystem::path> lower_dirs(std::string_view reference) const;

    const StoreFiles& files() const { return files_; }

  private:
    struct Resolved {
        std::string manifest_digest;
        std::optional<std::string> tag; // set when `reference` named a tag
    };
    Resolved resolve(std::string_view reference) const;
    ImageDetails details(const std::string& manifest_digest, const ImageIndex& index) const;
    PruneResult collect_garbage();
    PruneResult sweep_unreferenced();

    StoreFiles files_;
    StoreOptions options_;
};

} // namespace lcloud::runtime::image

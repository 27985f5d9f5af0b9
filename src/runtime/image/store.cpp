#include "runtime/image/store.hpp"

#include "common/error.hpp"
#include "runtime/image/errors.hpp"
#include "runtime/image/file_lock.hpp"
#include "runtime/image/image_index.hpp"
#include "runtime/image/sha256.hpp"

#include <algorithm>
#include <set>
#include <system_error>

namespace lcloud::runtime::image {

namespace fs = std::filesystem;

namespace {

bool is_hex(std::string_view text) {
    return !text.empty() && text.find_first_not_of("0123456789abcdef") == std::string_view::npos;
}

uint64_t size_of_tree(const fs::path& path) {
    uint64_t total = 0;
    std::error_code error;
    for (auto it = fs::recursive_directory_iterator(path, error);
         !error && it != fs::recursive_directory_iterator(); it.increment(error)) {
        std::error_code ignored;
        if (it->is_regular_file(ignored)) total += it->file_size(ignored);
    }
    return total;
}

} // namespace

Store::Store(fs::path root, StoreOptions options)
    : files_(std::move(root), options.durable), options_(options) {}

ImageDetails Store::details(const std::string& manifest_digest, const ImageIndex& index) const {
    ImageDetails details;
    details.manifest_digest = manifest_digest;
    const std::string what = "image manifest " + manifest_digest;
    details.manifest = parse_manifest(files_.read_blob(manifest_digest, what), what);
    details.id = details.manifest.config.digest;
    details.config = parse_config(files_.read_blob(details.id, "image config " + details.id),
                                  "image config " + details.id);
    if (details.config.diff_ids.size() != details.manifest.layers.size())
        throw ImageError(what + ": its config lists " +
                         std::to_string(details.config.diff_ids.size()) + " diff_ids for " +
                         std::to_string(details.manifest.layers.size()) + " layers");
    for (size_t i = 0; i < details.manifest.layers.size(); ++i)
        details.layers.push_back({details.manifest.layers[i], details.config.diff_ids[i],
                                  files_.layer_path(details.config.diff_ids[i])});
    for (const auto& [reference, digest] : index)
        if (digest == manifest_digest) details.references.push_back(parse_reference(reference));
    return details;
}

Store::Resolved Store::resolve(std::string_view reference) const {
    const ImageIndex index = load_index(files_);
    std::optional<Reference> parsed;
    try {
        parsed = parse_reference(reference);
    } catch (const ImageError&) {
    }
    if (parsed) {
        const auto it = index.find(parsed->str());
        if (it != index.end()) return {it->second, it->first};
    }
    // An image id: the config digest, whole or a unique prefix of its hex.
    std::string_view hex = reference;
    if (hex.substr(0, 7) == "sha256:") hex.remove_prefix(7);
    if (is_hex(hex) && hex.size() >= 4) {
        std::set<std::string> matches;
        for (const auto& [name, manifest_digest] : index) {
            const std::string id = details(manifest_digest, index).id;
            if (id.compare(7, hex.size(), hex) == 0) matches.insert(manifest_digest);
        }
        if (matches.size() == 1) return {*matches.begin(), std::nullopt};
        if (matches.size() > 1)
            throw ImageError("image id prefix '" + std::string(reference) + "' matches " +
                             std::to_string(matches.size()) + " images; give more digits");
    }
    throw ImageNotFound("no image '" + std::string(reference) +
                        "' in the image store; `lcloud image ls` lists the images there");
}

std::vector<ImageSummary> Store::list() const {
    std::vector<ImageSummary> images;
    const ImageIndex index = load_index(files_);
    for (const auto& [reference, manifest_digest] : index) {
        const ImageDetails image = details(manifest_digest, index);
        ImageSummary summary{parse_reference(reference), image.id, manifest_digest,
                             image.config.created, image.manifest.config.size};
        for (const LayerInfo& layer : image.layers)
            summary.size += layer.blob.size;
        images.push_back(std::move(summary));
    }
    return images;
}

ImageDetails Store::inspect(std::string_view reference) const {
    return details(resolve(reference).manifest_digest, load_index(files_));
}

void Store::tag(std::string_view source, const Reference& target) {
    const FileLock lock(files_.store_lock_path(), FileLock::Mode::shared);
    const std::string manifest_digest = resolve(source).manifest_digest;
    update_index(files_, [&](ImageIndex& index) { index[target.str()] = manifest_digest; });
}

RemoveResult Store::remove(std::string_view reference, const InUse& in_use) {
    const FileLock lock(files_.store_lock_path(), FileLock::Mode::exclusive);
    const Resolved resolved = resolve(reference);
    const std::string id = details(resolved.manifest_digest, {}).id;
    RemoveResult result;
    update_index(files_, [&](ImageIndex& index) {
        std::vector<std::string> untag;
        size_t tags_of_image = 0;
        for (const auto& [name, digest] : index) {
            if (digest != resolved.manifest_digest) continue;
            ++tags_of_image;
            if (!resolved.tag || name == *resolved.tag) untag.push_back(name);
        }
        // Another tag keeps the image: untagging one never takes it from a container.
        if (untag.size() == tags_of_image && in_use && in_use(id))
            throw ImageInUse("image " + std::string(reference) + " (" + id +
                             ") is used by a container; remove the container first");
        for (const std::string& name : untag) {
            index.erase(name);
            result.untagged.push_back(parse_reference(name));
        }
    });
    result.deleted = collect_garbage().deleted;
    return result;
}

PruneResult Store::prune() {
    const FileLock lock(files_.store_lock_path(), FileLock::Mode::exclusive);
    return collect_garbage();
}

// Runs under the exclusive store lock: no import is writing, so all of tmp/ is debris.
PruneResult Store::collect_garbage() {
    try {
        return sweep_unreferenced();
    } catch (const fs::filesystem_error& error) {
        throw SystemError("collect garbage: " + error.code().message() + " at",
                          error.path1().string(), error.code().value());
    }
}

PruneResult Store::sweep_unreferenced() {
    std::set<std::string> blobs;
    std::set<std::string> layers;
    const ImageIndex index = load_index(files_);
    for (const auto& [reference, manifest_digest] : index) {
        const ImageDetails image = details(manifest_digest, index);
        blobs.insert(digest_hex(manifest_digest, "manifest"));
        blobs.insert(digest_hex(image.id, "config"));
        for (const LayerInfo& layer : image.layers) {
            blobs.insert(digest_hex(layer.blob.digest, "layer"));
            layers.insert(digest_hex(layer.diff_id, "diff_id"));
        }
    }
    PruneResult result;
    const auto sweep = [&](const fs::path& dir, const std::set<std::string>& keep,
                           const char* kind) {
        for (const auto& entry : fs::directory_iterator(dir)) {
            const std::string name = entry.path().filename().string();
            if (keep.count(name)) continue;
            // Out of the way first: a crash mid-removal must not leave half a layer in place.
            const fs::path doomed = files_.temp_path("doomed");
            fs::rename(entry.path(), doomed);
            result.bytes_freed += fs::is_directory(fs::symlink_status(doomed))
                                      ? size_of_tree(doomed)
                                      : fs::file_size(doomed);
            fs::remove_all(doomed);
            result.deleted.push_back(std::string(kind) + " sha256:" + name);
        }
    };
    sweep(files_.blobs_dir(), blobs, "blob");
    sweep(files_.layers_dir(), layers, "layer");
    for (const auto& entry : fs::directory_iterator(files_.diff_ids_dir()))
        if (!blobs.count(entry.path().filename().string())) fs::remove(entry.path());
    for (const auto& entry : fs::directory_iterator(files_.tmp_dir()))
        fs::remove_all(entry.path());
    return result;
}

std::vector<fs::path> Store::lower_dirs(std::string_view reference) const {
    const ImageDetails image = inspect(reference);
    std::vector<fs::path> dirs;
    for (auto it = image.layers.rbegin(); it != image.layers.rend(); ++it) {
        std::error_code error;
        if (!fs::is_directory(fs::symlink_status(it->path, error)))
            throw ImageError("image " + std::string(reference) + ": layer " + it->diff_id +
                             " is missing from the image store; import the image again");
        dirs.push_back(it->path);
    }
    return dirs;
}

} // namespace lcloud::runtime::image

// Store::create_layer and Store::commit: images made here (image build, image bootstrap) rather
// than imported.

#include "common/error.hpp"
#include "runtime/image/errors.hpp"
#include "runtime/image/file_lock.hpp"
#include "runtime/image/image_index.hpp"
#include "runtime/image/layer_writer.hpp"
#include "runtime/image/store.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

namespace lcloud::runtime::image {

namespace fs = std::filesystem;

LayerInfo Store::create_layer(const fs::path& dir, Compression compression) {
    const FileLock lock(files_.store_lock_path(), FileLock::Mode::shared);
    const fs::path temp = files_.temp_path("layer-blob");
    RemoveGuard guard(temp);
    Fd out(::open(temp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600));
    if (!out) throw_errno("create", temp.string());
    const WrittenLayer blob = write_layer(dir, out.get(), compression);
    if (files_.durable() && ::fsync(out.get()) != 0) throw_errno("fsync", temp.string());
    out.reset();
    files_.adopt_blob(temp, blob.digest);
    const LayerDigests digests =
        files_.add_layer(blob.digest, options_.limits, "layer made from " + dir.string());
    Descriptor descriptor;
    descriptor.media_type = layer_media_type(compression);
    descriptor.digest = blob.digest;
    descriptor.size = blob.size;
    return {descriptor, digests.diff_id, files_.layer_path(digests.diff_id)};
}

bool Store::has_layer(const LayerInfo& layer) const {
    struct stat st {};
    return files_.has_blob(layer.blob.digest) &&
           ::lstat(files_.layer_path(layer.diff_id).c_str(), &st) == 0 && S_ISDIR(st.st_mode);
}

ImportedImage Store::commit(const std::vector<LayerInfo>& layers, const std::string& config_json,
                            const Reference& name) {
    const FileLock lock(files_.store_lock_path(), FileLock::Mode::shared);
    const std::string what = "image config for " + name.str();
    const ImageConfig config = parse_config(config_json, what);
    if (config.diff_ids.size() != layers.size())
        throw ImageError(what + ": rootfs.diff_ids lists " +
                         std::to_string(config.diff_ids.size()) + " layers, but " +
                         std::to_string(layers.size()) + " are given");
    Manifest manifest;
    manifest.media_type = media_type::oci_manifest;
    for (size_t i = 0; i < layers.size(); ++i) {
        if (config.diff_ids[i] != layers[i].diff_id)
            throw ImageError(what + ": rootfs.diff_ids[" + std::to_string(i) + "] is " +
                             config.diff_ids[i] + ", but the layer given there is " +
                             layers[i].diff_id);
        if (!has_layer(layers[i]))
            throw ImageError(what + ": layer " + layers[i].diff_id +
                             " is missing from the image store (pruned?); build again");
        manifest.layers.push_back(layers[i].blob);
    }
    const StoredBlob config_blob = files_.put_blob(config_json);
    manifest.config = {
        std::string(media_type::oci_config), config_blob.digest, config_blob.size, {}, "", ""};
    const StoredBlob manifest_blob = files_.put_blob(manifest_json(manifest));
    update_index(files_, [&](ImageIndex& index) { index[name.str()] = manifest_blob.digest; });
    return {name, config_blob.digest, manifest_blob.digest};
}

} // namespace lcloud::runtime::image

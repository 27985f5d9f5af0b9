// Store::import_archive and Store::import_rootfs: docker save tarballs, OCI image layouts,
// and plain root file system tarballs.

#include "common/error.hpp"
#include "runtime/image/errors.hpp"
#include "runtime/image/file_lock.hpp"
#include "runtime/image/image_index.hpp"
#include "runtime/image/import_source.hpp"
#include "runtime/image/sha256.hpp"
#include "runtime/image/store.hpp"

#include <fcntl.h>
#include <nlohmann/json.hpp>
#include <unistd.h>

namespace lcloud::runtime::image {

namespace fs = std::filesystem;
using Json = nlohmann::json;

namespace {

std::string blob_path(const std::string& digest) {
    return "blobs/sha256/" + digest_hex(digest, "descriptor");
}

// The digest a file's path in an archive claims: "blobs/sha256/<hex>" or Docker's "<hex>.json".
std::optional<std::string> digest_in_path(const std::string& path) {
    std::string hex;
    if (path.rfind("blobs/sha256/", 0) == 0)
        hex = path.substr(13);
    else if (path.size() == 69 && path.substr(64) == ".json")
        hex = path.substr(0, 64);
    const std::string digest = "sha256:" + hex;
    return is_sha256_digest(digest) ? std::optional<std::string>(digest) : std::nullopt;
}

Compression sniff_compression(const StoreFiles& files, const std::string& digest) {
    const Fd fd = files.open_blob(digest, "layer " + digest);
    unsigned char magic[4] = {};
    if (::pread(fd.get(), magic, sizeof magic, 0) != sizeof magic) return Compression::none;
    if (magic[0] == 0x1f && magic[1] == 0x8b) return Compression::gzip;
    if (magic[0] == 0x28 && magic[1] == 0xb5 && magic[2] == 0x2f && magic[3] == 0xfd)
        return Compression::zstd;
    return Compression::none;
}

class Importer {
  public:
    Importer(const StoreFiles& files, const ExtractLimits& limits, ImportSource& source)
        : files_(files), limits_(limits), source_(source) {}

    // Each returns the images stored (not yet named in the index).
    std::vector<ImportedImage> docker_save(const std::optional<Reference>& name);
    std::vector<ImportedImage> oci_layout(const std::optional<Reference>& name);

  private:
    // Stores the layer blob and unpacks it; `size`, when given, is what the manifest says.
    StoredBlob store_layer(const std::string& what, const std::string& path,
                           const std::optional<std::string>& digest, const std::string& diff_id,
                           std::optional<uint64_t> size = std::nullopt);
    void check_layer_count(const ImageConfig& config, size_t layers, const std::string& what);
    std::vector<Descriptor> platform_manifests(const Descriptor& descriptor);
    const StoreFiles& files_;
    const ExtractLimits& limits_;
    ImportSource& source_;
};

void check_size(const std::string& what, uint64_t actual, std::optional<uint64_t> expected) {
    if (expected && actual != *expected)
        throw ImageError(what + " has " + std::to_string(actual) + " bytes; its descriptor says " +
                         std::to_string(*expected));
}

void Importer::check_layer_count(const ImageConfig& config, size_t layers,
                                 const std::string& what) {
    if (config.diff_ids.size() != layers)
        throw ImageError(what + ": the config lists " + std::to_string(config.diff_ids.size()) +
                         " diff_ids for " + std::to_string(layers) +
                         " layers; each layer needs one");
}

StoredBlob Importer::store_layer(const std::string& what, const std::string& path,
                                 const std::optional<std::string>& digest,
                                 const std::string& diff_id, std::optional<uint64_t> size) {
    const StoredBlob blob = source_.store_blob(path, digest);
    check_size(what + " (" + path + ")", blob.size, size);
    files_.ensure_layer(blob.digest, diff_id, limits_, what + " (" + path + ")");
    return blob;
}

std::vector<ImportedImage> Importer::docker_save(const std::optional<Reference>& name) {
    const std::string what = source_.name() + ": manifest.json";
    Json list;
    try {
        list = Json::parse(source_.read("manifest.json", std::nullopt));
    } catch (const Json::exception& error) {
        throw ImageError(what + ": not valid JSON (" + error.what() + ")");
    }
    if (!list.is_array() || list.empty())
        throw ImageError(what + ": expected a list of {Config, RepoTags, Layers}");
    if (name && list.size() > 1)
        throw ImageError(source_.name() + " holds " + std::to_string(list.size()) +
                         " images; a name can only be given to an archive of one");
    std::vector<ImportedImage> imported;
    for (size_t i = 0; i < list.size(); ++i) {
        const Json& item = list[i];
        const std::string item_what = what + "[" + std::to_string(i) + "]";
        if (!item.is_object() || !item.contains("Config") || !item["Config"].is_string() ||
            !item.contains("Layers") || !item["Layers"].is_array())
            throw ImageError(item_what + ": expected Config (a path) and Layers (a list of paths)");
        std::vector<Reference> names;
        if (name)
            names.push_back(*name);
        else if (item.contains("RepoTags") && item["RepoTags"].is_array())
            for (const Json& tag : item["RepoTags"])
                if (tag.is_string()) names.push_back(parse_reference(tag.get<std::string>()));
        if (names.empty())
            throw ImageError(item_what + " has no RepoTags; give the image a NAME:TAG");

        const std::string config_path = item["Config"].get<std::string>();
        const std::string config_text = source_.read(config_path, digest_in_path(config_path));
        const ImageConfig config = parse_config(config_text, source_.name() + ": " + config_path);
        check_layer_count(config, item["Layers"].size(), item_what);
        Manifest manifest;
        manifest.media_type = media_type::oci_manifest;
        for (size_t layer = 0; layer < config.diff_ids.size(); ++layer) {
            const Json& path = item["Layers"][layer];
            if (!path.is_string()) throw ImageError(item_what + ": Layers must be paths");
            const std::string layer_path = path.get<std::string>();
            const StoredBlob blob =
                store_layer(item_what + ": layer " + std::to_string(layer), layer_path,
                            digest_in_path(layer_path), config.diff_ids[layer]);
            Descriptor descriptor;
            descriptor.digest = blob.digest;
            descriptor.size = blob.size;
            descriptor.media_type = layer_media_type(sniff_compression(files_, blob.digest));
            manifest.layers.push_back(descriptor);
        }
        const StoredBlob config_blob = files_.put_blob(config_text);
        manifest.config = {
            std::string(media_type::oci_config), config_blob.digest, config_blob.size, {}, "", ""};
        const StoredBlob manifest_blob = files_.put_blob(manifest_json(manifest));
        for (const Reference& reference : names)
            imported.push_back({reference, config_blob.digest, manifest_blob.digest});
    }
    return imported;
}

std::vector<Descriptor> Importer::platform_manifests(const Descriptor& descriptor) {
    if (is_manifest_type(descriptor.media_type) || descriptor.media_type.empty())
        return {descriptor};
    if (!is_index_type(descriptor.media_type)) return {};
    const std::string what = source_.name() + ": index " + descriptor.digest;
    std::string platforms;
    for (const Descriptor& entry :
         parse_index(source_.read(blob_path(descriptor.digest), descriptor.digest), what)) {
        if (!is_manifest_type(entry.media_type)) continue;
        if (entry.os == "linux" && entry.architecture == host_architecture()) return {entry};
        platforms += " " + entry.os + "/" + entry.architecture;
    }
    throw ImageError(what + " has no image for linux/" + host_architecture() +
                     " (it has:" + platforms + ")");
}

std::vector<ImportedImage> Importer::oci_layout(const std::optional<Reference>& name) {
    const std::string what = source_.name() + ": index.json";
    if (source_.has("oci-layout")) {
        const std::string layout = source_.read("oci-layout", std::nullopt, 4096);
        if (layout.find("imageLayoutVersion") == std::string::npos)
            throw ImageError(source_.name() + ": oci-layout lacks imageLayoutVersion");
    }
    std::vector<std::pair<Descriptor, std::vector<Reference>>> images;
    for (const Descriptor& top : parse_index(source_.read("index.json", std::nullopt), what)) {
        std::vector<Reference> names;
        const auto full = top.annotations.find("io.containerd.image.name");
        const auto ref = top.annotations.find("org.opencontainers.image.ref.name");
        if (full != top.annotations.end())
            names.push_back(parse_reference(full->second));
        else if (ref != top.annotations.end() &&
                 ref->second.find_first_of(":/") != std::string::npos)
            names.push_back(parse_reference(ref->second));
        for (const Descriptor& manifest : platform_manifests(top))
            images.emplace_back(manifest, names);
    }
    if (images.empty()) throw ImageError(what + " lists no image manifest");
    if (name && images.size() > 1)
        throw ImageError(source_.name() + " holds " + std::to_string(images.size()) +
                         " images; a name can only be given to a layout of one");
    std::vector<ImportedImage> imported;
    for (auto& [descriptor, names] : images) {
        if (name) names = {*name};
        const std::string image_what = source_.name() + ": manifest " + descriptor.digest;
        if (names.empty())
            throw ImageError(image_what + " has no full name (annotation "
                                          "io.containerd.image.name or a NAME:TAG "
                                          "org.opencontainers.image.ref.name); give it a NAME:TAG");
        const std::string manifest_text =
            source_.read(blob_path(descriptor.digest), descriptor.digest);
        check_size(image_what, manifest_text.size(), descriptor.size);
        const Manifest manifest = parse_manifest(manifest_text, image_what);
        const std::string config_text =
            source_.read(blob_path(manifest.config.digest), manifest.config.digest);
        check_size(source_.name() + ": config " + manifest.config.digest, config_text.size(),
                   manifest.config.size);
        const ImageConfig config =
            parse_config(config_text, source_.name() + ": config " + manifest.config.digest);
        check_layer_count(config, manifest.layers.size(), image_what);
        for (size_t i = 0; i < manifest.layers.size(); ++i) {
            const Descriptor& layer = manifest.layers[i];
            store_layer(image_what + ": layer " + std::to_string(i), blob_path(layer.digest),
                        layer.digest, config.diff_ids[i], layer.size);
        }
        const StoredBlob config_blob = files_.put_blob(config_text);
        const StoredBlob manifest_blob = files_.put_blob(manifest_text);
        for (const Reference& reference : names)
            imported.push_back({reference, config_blob.digest, manifest_blob.digest});
    }
    return imported;
}

void name_images(const StoreFiles& files, const std::vector<ImportedImage>& images) {
    update_index(files, [&](ImageIndex& index) {
        for (const ImportedImage& image : images)
            index[image.reference.str()] = image.manifest_digest;
    });
}

} // namespace

std::vector<ImportedImage> Store::import_archive(const fs::path& path,
                                                 const std::optional<Reference>& name) {
    const FileLock lock(files_.store_lock_path(), FileLock::Mode::shared);
    std::error_code error;
    const bool directory = fs::is_directory(path, error);
    if (!directory && !fs::exists(path, error))
        throw ImageError("image archive " + path.string() + " does not exist");
    const auto source = directory ? open_directory_source(path, files_)
                                  : open_archive_source(path, files_, options_.limits.max_bytes);
    Importer importer(files_, options_.limits, *source);
    std::vector<ImportedImage> images;
    if (source->has("manifest.json"))
        images = importer.docker_save(name);
    else if (source->has("index.json"))
        images = importer.oci_layout(name);
    else
        throw ImageError(path.string() +
                         " holds neither manifest.json (a docker save archive) nor index.json (an "
                         "OCI image layout); import a root file system tarball with --rootfs "
                         "NAME:TAG");
    name_images(files_, images);
    return images;
}

ImportedImage Store::import_rootfs(const fs::path& tarball, const Reference& name) {
    const FileLock lock(files_.store_lock_path(), FileLock::Mode::shared);
    const Fd fd(::open(tarball.c_str(), O_RDONLY | O_CLOEXEC));
    if (!fd) throw_errno("open root file system tarball", tarball.string());
    const StoredBlob blob = files_.put_blob(fd.get(), std::nullopt, tarball.string());
    const LayerDigests digests =
        files_.add_layer(blob.digest, options_.limits, "root file system " + tarball.string());
    if (digests.compression == Compression::other)
        throw ImageError(tarball.string() + ": compressed with neither gzip nor zstd; an OCI "
                                            "layer can only be plain or use one of those");
    const std::string created = now_rfc3339();
    const Json config{
        {"architecture", host_architecture()},
        {"os", "linux"},
        {"created", created},
        {"config",
         {{"Env", {"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"}}}},
        {"rootfs", {{"type", "layers"}, {"diff_ids", {digests.diff_id}}}},
        {"history",
         {{{"created", created},
           {"created_by", "lcloud image import --rootfs " + tarball.filename().string()}}}}};
    const StoredBlob config_blob = files_.put_blob(config.dump());
    Manifest manifest;
    manifest.media_type = media_type::oci_manifest;
    manifest.config = {
        std::string(media_type::oci_config), config_blob.digest, config_blob.size, {}, "", ""};
    manifest.layers.push_back(
        {layer_media_type(digests.compression), blob.digest, blob.size, {}, "", ""});
    const StoredBlob manifest_blob = files_.put_blob(manifest_json(manifest));
    const ImportedImage image{name, config_blob.digest, manifest_blob.digest};
    name_images(files_, {image});
    return image;
}

} // namespace lcloud::runtime::image

#pragma once

// Images for the store tests, built here: layers, configs, manifests, and the archives that
// carry them (docker save, legacy and OCI-style; OCI image layouts as a tree or a tar).

#include "archive_builder.hpp"
#include "runtime/image/sha256.hpp"

#include <filesystem>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

namespace lcloud::test::image {

using Json = nlohmann::json;

struct TestLayer {
    std::string tar;
    std::string blob; // as stored: tar, or compressed
    std::string digest;
    std::string diff_id;
    std::string media_type;
};

inline std::string hex_of(const std::string& digest) {
    return digest.substr(7);
}

inline TestLayer make_layer(const std::vector<Entry>& entries, Filter filter = Filter::none) {
    TestLayer layer;
    layer.tar = make_tar(entries);
    layer.blob = filter == Filter::none ? layer.tar : compress(layer.tar, filter);
    layer.digest = runtime::image::sha256_digest(layer.blob);
    layer.diff_id = runtime::image::sha256_digest(layer.tar);
    layer.media_type =
        std::string("application/vnd.oci.image.layer.v1.tar") + (filter == Filter::gzip   ? "+gzip"
                                                                 : filter == Filter::zstd ? "+zstd"
                                                                                          : "");
    return layer;
}

struct TestImage {
    std::vector<TestLayer> layers;
    std::string config;
    std::string config_digest;
    std::string manifest;
    std::string manifest_digest;
};

// The run settings every test image carries, to check inspect against.
inline Json sample_run_config() {
    return Json{{"Env", {"PATH=/usr/bin:/bin", "GREETING=hello"}},
                {"Entrypoint", {"/bin/app"}},
                {"Cmd", {"--serve", "8080"}},
                {"WorkingDir", "/srv"},
                {"User", "1000:1000"},
                {"ExposedPorts", {{"8080/tcp", Json::object()}, {"53/udp", Json::object()}}},
                {"Labels", {{"org.example.team", "infra"}}}};
}

inline TestImage make_image(std::vector<TestLayer> layers,
                            const std::vector<std::string>& diff_ids_override = {}) {
    TestImage image;
    image.layers = std::move(layers);
    Json diff_ids = Json::array();
    for (const TestLayer& layer : image.layers)
        diff_ids.push_back(layer.diff_id);
    if (!diff_ids_override.empty()) diff_ids = diff_ids_override;
    image.config = Json{{"architecture", "amd64"},
                        {"os", "linux"},
                        {"created", "2024-01-02T03:04:05Z"},
                        {"config", sample_run_config()},
                        {"rootfs", {{"type", "layers"}, {"diff_ids", diff_ids}}}}
                       .dump();
    image.config_digest = runtime::image::sha256_digest(image.config);
    Json manifest{{"schemaVersion", 2},
                  {"mediaType", "application/vnd.oci.image.manifest.v1+json"},
                  {"config",
                   {{"mediaType", "application/vnd.oci.image.config.v1+json"},
                    {"digest", image.config_digest},
                    {"size", image.config.size()}}},
                  {"layers", Json::array()}};
    for (const TestLayer& layer : image.layers)
        manifest["layers"].push_back({{"mediaType", layer.media_type},
                                      {"digest", layer.digest},
                                      {"size", layer.blob.size()}});
    image.manifest = manifest.dump();
    image.manifest_digest = runtime::image::sha256_digest(image.manifest);
    return image;
}

// `docker save` before Docker 25: <id>/layer.tar, <config hex>.json, manifest.json.
inline std::string docker_save_legacy(const TestImage& image,
                                      const std::vector<std::string>& tags) {
    std::vector<Entry> entries;
    Json layers = Json::array();
    for (size_t i = 0; i < image.layers.size(); ++i) {
        const std::string id = hex_of(runtime::image::sha256_digest("v1 id " + std::to_string(i)));
        entries.push_back(dir(id));
        entries.push_back(file(id + "/VERSION", "1.0"));
        entries.push_back(file(id + "/json", Json{{"id", id}}.dump()));
        entries.push_back(file(id + "/layer.tar", image.layers[i].tar));
        layers.push_back(id + "/layer.tar");
    }
    entries.push_back(file(hex_of(image.config_digest) + ".json", image.config));
    entries.push_back(
        file("manifest.json", Json::array({{{"Config", hex_of(image.config_digest) + ".json"},
                                            {"RepoTags", tags},
                                            {"Layers", layers}}})
                                  .dump()));
    return make_tar(entries);
}

// An OCI image layout's files: oci-layout, index.json, blobs/sha256/*.
inline std::vector<Entry> oci_layout_entries(const TestImage& image, const Json& annotations) {
    std::vector<Entry> entries{
        file("oci-layout", R"({"imageLayoutVersion":"1.0.0"})"), dir("blobs"), dir("blobs/sha256"),
        file("index.json", Json{{"schemaVersion", 2},
                                {"mediaType", "application/vnd.oci.image.index.v1+json"},
                                {"manifests",
                                 {{{"mediaType", "application/vnd.oci.image.manifest.v1+json"},
                                   {"digest", image.manifest_digest},
                                   {"size", image.manifest.size()},
                                   {"annotations", annotations}}}}}
                               .dump())};
    entries.push_back(file("blobs/sha256/" + hex_of(image.manifest_digest), image.manifest));
    entries.push_back(file("blobs/sha256/" + hex_of(image.config_digest), image.config));
    for (const TestLayer& layer : image.layers)
        entries.push_back(file("blobs/sha256/" + hex_of(layer.digest), layer.blob));
    return entries;
}

// `docker save` from Docker 25 on: an OCI layout plus manifest.json (layers uncompressed).
inline std::string docker_save_oci(const TestImage& image, const std::vector<std::string>& tags) {
    std::vector<Entry> entries = oci_layout_entries(
        image,
        {{"io.containerd.image.name", "docker.io/library/" + tags.front()},
         {"org.opencontainers.image.ref.name", tags.front().substr(tags.front().find(':') + 1)}});
    Json layers = Json::array();
    for (const TestLayer& layer : image.layers)
        layers.push_back("blobs/sha256/" + hex_of(layer.digest));
    entries.push_back(file("manifest.json",
                           Json::array({{{"Config", "blobs/sha256/" + hex_of(image.config_digest)},
                                         {"RepoTags", tags},
                                         {"Layers", layers}}})
                               .dump()));
    return make_tar(entries);
}

// A base layer, and a top layer that deletes from it (whiteouts, an opaque directory).
inline std::vector<Entry> base_entries() {
    return {dir("etc"),
            file("etc/a", "base a"),
            file("etc/b", "base b"),
            dir("var"),
            dir("var/cache"),
            file("var/cache/old", "old"),
            file("gone", "bye"),
            file("bin/app", "#!app", 0755)};
}
inline std::vector<Entry> top_entries() {
    return {dir("etc"),
            file("etc/.wh.a", ""),
            file(".wh.gone", ""),
            dir("var/cache"),
            file("var/cache/.wh..wh..opq", ""),
            file("var/cache/new", "new"),
            file("etc/c", "top c")};
}
inline TestImage sample_image(Filter base = Filter::none, Filter top = Filter::none) {
    return make_image({make_layer(base_entries(), base), make_layer(top_entries(), top)});
}

// The entries as files and directories under `dir`.
inline void write_tree(const std::filesystem::path& dir, const std::vector<Entry>& entries) {
    for (const Entry& entry : entries) {
        if (entry.type == AE_IFDIR)
            std::filesystem::create_directories(dir / entry.path);
        else {
            std::filesystem::create_directories((dir / entry.path).parent_path());
            write_file(dir / entry.path, entry.data);
        }
    }
}

} // namespace lcloud::test::image

#pragma once

// The OCI image documents the store reads and writes (manifests, indexes, configs), and the
// Docker media types that mean the same.

#include "runtime/image/layer_stream.hpp"

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace lcloud::runtime::image {

namespace media_type {
inline constexpr std::string_view oci_layout_version = "1.0.0";
inline constexpr std::string_view oci_index = "application/vnd.oci.image.index.v1+json";
inline constexpr std::string_view oci_manifest = "application/vnd.oci.image.manifest.v1+json";
inline constexpr std::string_view oci_config = "application/vnd.oci.image.config.v1+json";
inline constexpr std::string_view oci_layer = "application/vnd.oci.image.layer.v1.tar";
inline constexpr std::string_view docker_manifest_list =
    "application/vnd.docker.distribution.manifest.list.v2+json";
inline constexpr std::string_view docker_manifest =
    "application/vnd.docker.distribution.manifest.v2+json";
} // namespace media_type

struct Descriptor {
    std::string media_type;
    std::string digest;
    uint64_t size = 0;
    std::map<std::string, std::string> annotations;
    std::string os;           // platform, in indexes
    std::string architecture; // platform, in indexes
};

struct Manifest {
    std::string media_type;
    Descriptor config;
    std::vector<Descriptor> layers;
};

// The image's health check, as Docker stores it (config.Healthcheck): durations in nanoseconds,
// 0 when unset (the runner's default applies).
struct ImageHealthcheck {
    std::vector<std::string> test; // ["CMD", args...], ["CMD-SHELL", line] or ["NONE"]
    int64_t interval = 0;
    int64_t timeout = 0;
    int64_t start_period = 0;
    int64_t start_interval = 0;
    int retries = 0;
};

// What a container made from the image starts with (the config's "config"), and its layers.
struct ImageConfig {
    std::string architecture;
    std::string os;
    std::string created;
    std::vector<std::string> env;
    // nullopt when the image does not set it (which differs from an empty list for Docker).
    std::optional<std::vector<std::string>> entrypoint;
    std::optional<std::vector<std::string>> cmd;
    std::string working_dir;
    std::string user;
    std::vector<std::string> exposed_ports; // "80/tcp"
    std::map<std::string, std::string> labels;
    std::optional<ImageHealthcheck> healthcheck;
    std::string stop_signal;
    std::vector<std::string> diff_ids; // bottom layer first
};

// Each throws ImageError naming `what` (the blob or file) and the field that is wrong.
Manifest parse_manifest(std::string_view json, const std::string& what);
std::vector<Descriptor> parse_index(std::string_view json, const std::string& what);
ImageConfig parse_config(std::string_view json, const std::string& what);

std::string manifest_json(const Manifest& manifest);
std::string descriptor_json(const Descriptor& descriptor);

// The OCI architecture name of this machine ("amd64", "arm64").
std::string host_architecture();
// Now, as RFC 3339 in UTC with seconds ("2024-01-02T03:04:05Z").
std::string now_rfc3339();

bool is_manifest_type(std::string_view type);
bool is_index_type(std::string_view type);
// The layer types the store can unpack: plain, gzip and zstd tar, OCI or Docker.
bool is_layer_type(std::string_view type);
std::string layer_media_type(Compression compression);

} // namespace lcloud::runtime::image

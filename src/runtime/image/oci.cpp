#include "runtime/image/oci.hpp"

#include "runtime/image/errors.hpp"
#include "runtime/image/sha256.hpp"

#include <chrono>
#include <ctime>
#include <nlohmann/json.hpp>

namespace lcloud::runtime::image {

using Json = nlohmann::json;

namespace {

Json parse(std::string_view text, const std::string& what) {
    try {
        return Json::parse(text);
    } catch (const Json::exception& error) {
        throw ImageError(what + ": not valid JSON (" + error.what() + ")");
    }
}

[[noreturn]] void wrong(const std::string& what, const std::string& field,
                        const std::string& expected) {
    throw ImageError(what + ": the field " + field + " is missing or wrong; expected " + expected);
}

const Json& member(const Json& object, const char* key, const std::string& what,
                   const std::string& field, Json::value_t type, const char* expected) {
    if (!object.is_object() || !object.contains(key) || object.at(key).type() != type)
        wrong(what, field, expected);
    return object.at(key);
}

std::string optional_string(const Json& object, const char* key, const std::string& what,
                            const std::string& field) {
    if (!object.is_object() || !object.contains(key) || object.at(key).is_null()) return "";
    if (!object.at(key).is_string()) wrong(what, field, "a string");
    return object.at(key).get<std::string>();
}

std::optional<std::vector<std::string>> string_list(const Json& object, const char* key,
                                                    const std::string& what,
                                                    const std::string& field) {
    if (!object.is_object() || !object.contains(key) || object.at(key).is_null())
        return std::nullopt;
    const Json& list = object.at(key);
    if (!list.is_array()) wrong(what, field, "a list of strings");
    std::vector<std::string> values;
    for (const Json& item : list) {
        if (!item.is_string()) wrong(what, field, "a list of strings");
        values.push_back(item.get<std::string>());
    }
    return values;
}

Descriptor parse_descriptor(const Json& json, const std::string& what, const std::string& field) {
    Descriptor descriptor;
    descriptor.media_type = optional_string(json, "mediaType", what, field + ".mediaType");
    descriptor.digest =
        member(json, "digest", what, field + ".digest", Json::value_t::string, "a sha256 digest")
            .get<std::string>();
    digest_hex(descriptor.digest, what + ": " + field + ".digest");
    if (!json.contains("size") || !json.at("size").is_number_unsigned())
        wrong(what, field + ".size", "a byte count");
    descriptor.size = json.at("size").get<uint64_t>();
    if (json.contains("annotations") && json.at("annotations").is_object())
        for (const auto& [key, value] : json.at("annotations").items())
            if (value.is_string()) descriptor.annotations[key] = value.get<std::string>();
    if (json.contains("platform") && json.at("platform").is_object()) {
        const Json& platform = json.at("platform");
        descriptor.os = optional_string(platform, "os", what, field + ".platform.os");
        descriptor.architecture =
            optional_string(platform, "architecture", what, field + ".platform.architecture");
    }
    return descriptor;
}

Json descriptor_object(const Descriptor& descriptor) {
    Json json = Json::object();
    json["mediaType"] = descriptor.media_type;
    json["digest"] = descriptor.digest;
    json["size"] = descriptor.size;
    if (!descriptor.annotations.empty()) json["annotations"] = descriptor.annotations;
    return json;
}

// Leniently: the store never read Healthcheck before, so a malformed one must not make an image
// it imported fine unreadable; what is not as Docker writes it is left unset.
int64_t optional_number(const Json& object, const char* key) {
    if (!object.contains(key) || !object.at(key).is_number_integer()) return 0;
    return object.at(key).get<int64_t>();
}

ImageHealthcheck parse_healthcheck(const Json& json) {
    ImageHealthcheck check;
    if (json.contains("Test") && json.at("Test").is_array())
        for (const Json& item : json.at("Test"))
            if (item.is_string()) check.test.push_back(item.get<std::string>());
    check.interval = optional_number(json, "Interval");
    check.timeout = optional_number(json, "Timeout");
    check.start_period = optional_number(json, "StartPeriod");
    check.start_interval = optional_number(json, "StartInterval");
    check.retries = static_cast<int>(optional_number(json, "Retries"));
    return check;
}

} // namespace

std::string host_architecture() {
#if defined(__x86_64__)
    return "amd64";
#elif defined(__aarch64__)
    return "arm64";
#elif defined(__riscv)
    return "riscv64";
#else
    return "unknown";
#endif
}

std::string now_rfc3339() {
    const std::time_t now = std::chrono::system_clock::to_time_t(std::chrono::system_clock::now());
    std::tm utc{};
    ::gmtime_r(&now, &utc);
    char text[32];
    std::strftime(text, sizeof text, "%Y-%m-%dT%H:%M:%SZ", &utc);
    return text;
}

Manifest parse_manifest(std::string_view text, const std::string& what) {
    const Json json = parse(text, what);
    if (!json.is_object()) wrong(what, "(document)", "a JSON object");
    Manifest manifest;
    manifest.media_type = optional_string(json, "mediaType", what, "mediaType");
    if (manifest.media_type.empty()) manifest.media_type = media_type::oci_manifest;
    if (!is_manifest_type(manifest.media_type))
        wrong(what, "mediaType", "an OCI or Docker v2 image manifest, not " + manifest.media_type);
    manifest.config = parse_descriptor(
        member(json, "config", what, "config", Json::value_t::object, "a descriptor"), what,
        "config");
    const Json& layers =
        member(json, "layers", what, "layers", Json::value_t::array, "a list of descriptors");
    for (size_t i = 0; i < layers.size(); ++i) {
        const std::string field = "layers[" + std::to_string(i) + "]";
        manifest.layers.push_back(parse_descriptor(layers[i], what, field));
        if (!is_layer_type(manifest.layers.back().media_type))
            wrong(what, field + ".mediaType",
                  "a tar layer, plain or with gzip or zstd (not '" +
                      manifest.layers.back().media_type + "')");
    }
    return manifest;
}

std::vector<Descriptor> parse_index(std::string_view text, const std::string& what) {
    const Json json = parse(text, what);
    const Json& list =
        member(json, "manifests", what, "manifests", Json::value_t::array, "a list of descriptors");
    std::vector<Descriptor> descriptors;
    for (size_t i = 0; i < list.size(); ++i)
        descriptors.push_back(
            parse_descriptor(list[i], what, "manifests[" + std::to_string(i) + "]"));
    return descriptors;
}

ImageConfig parse_config(std::string_view text, const std::string& what) {
    const Json json = parse(text, what);
    if (!json.is_object()) wrong(what, "(document)", "a JSON object");
    ImageConfig config;
    config.architecture = optional_string(json, "architecture", what, "architecture");
    config.os = optional_string(json, "os", what, "os");
    config.created = optional_string(json, "created", what, "created");
    const Json& rootfs = member(json, "rootfs", what, "rootfs", Json::value_t::object,
                                "an object with type \"layers\" and diff_ids");
    config.diff_ids = string_list(rootfs, "diff_ids", what, "rootfs.diff_ids")
                          .value_or(std::vector<std::string>{});
    for (size_t i = 0; i < config.diff_ids.size(); ++i)
        digest_hex(config.diff_ids[i], what + ": rootfs.diff_ids[" + std::to_string(i) + "]");
    if (!json.contains("config") || json.at("config").is_null()) return config;
    const Json& run = json.at("config");
    if (!run.is_object()) wrong(what, "config", "an object");
    config.env = string_list(run, "Env", what, "config.Env").value_or(std::vector<std::string>{});
    config.entrypoint = string_list(run, "Entrypoint", what, "config.Entrypoint");
    config.cmd = string_list(run, "Cmd", what, "config.Cmd");
    config.working_dir = optional_string(run, "WorkingDir", what, "config.WorkingDir");
    config.user = optional_string(run, "User", what, "config.User");
    if (run.contains("ExposedPorts") && run.at("ExposedPorts").is_object())
        for (const auto& [port, ignored] : run.at("ExposedPorts").items())
            config.exposed_ports.push_back(port);
    if (run.contains("Labels") && run.at("Labels").is_object())
        for (const auto& [key, value] : run.at("Labels").items())
            if (value.is_string()) config.labels[key] = value.get<std::string>();
    if (run.contains("StopSignal") && run.at("StopSignal").is_string())
        config.stop_signal = run.at("StopSignal").get<std::string>();
    if (run.contains("Healthcheck") && run.at("Healthcheck").is_object())
        config.healthcheck = parse_healthcheck(run.at("Healthcheck"));
    return config;
}

std::string manifest_json(const Manifest& manifest) {
    Json json = Json::object();
    json["schemaVersion"] = 2;
    json["mediaType"] = manifest.media_type;
    json["config"] = descriptor_object(manifest.config);
    json["layers"] = Json::array();
    for (const Descriptor& layer : manifest.layers)
        json["layers"].push_back(descriptor_object(layer));
    return json.dump();
}

std::string descriptor_json(const Descriptor& descriptor) {
    return descriptor_object(descriptor).dump();
}

bool is_manifest_type(std::string_view type) {
    return type == media_type::oci_manifest || type == media_type::docker_manifest;
}

bool is_index_type(std::string_view type) {
    return type == media_type::oci_index || type == media_type::docker_manifest_list;
}

bool is_layer_type(std::string_view type) {
    for (std::string_view known :
         {"application/vnd.oci.image.layer.v1.tar", "application/vnd.oci.image.layer.v1.tar+gzip",
          "application/vnd.oci.image.layer.v1.tar+zstd",
          "application/vnd.oci.image.layer.nondistributable.v1.tar",
          "application/vnd.oci.image.layer.nondistributable.v1.tar+gzip",
          "application/vnd.oci.image.layer.nondistributable.v1.tar+zstd",
          "application/vnd.docker.image.rootfs.diff.tar",
          "application/vnd.docker.image.rootfs.diff.tar.gzip",
          "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip"})
        if (type == known) return true;
    return false;
}

std::string layer_media_type(Compression compression) {
    switch (compression) {
    case Compression::gzip:
        return std::string(media_type::oci_layer) + "+gzip";
    case Compression::zstd:
        return std::string(media_type::oci_layer) + "+zstd";
    default:
        return std::string(media_type::oci_layer);
    }
}

} // namespace lcloud::runtime::image

#include "runtime/image/build/image_config.hpp"

#include "runtime/image/oci.hpp"

#include <chrono>
#include <cstdio>
#include <ctime>

namespace lcloud::runtime::image::build {

using Json = nlohmann::json;

Json scratch_image() {
    return Json{{"architecture", host_architecture()},
                {"os", "linux"},
                {"config", Json::object()},
                {"rootfs", {{"type", "layers"}, {"diff_ids", Json::array()}}},
                {"history", Json::array()}};
}

Json& run_config(Json& image) {
    if (!image.contains("config") || !image["config"].is_object()) image["config"] = Json::object();
    return image["config"];
}

std::vector<std::string> env_list(const Json& image) {
    std::vector<std::string> env;
    if (!image.contains("config") || !image["config"].is_object()) return env;
    const Json& config = image["config"];
    if (!config.contains("Env") || !config["Env"].is_array()) return env;
    for (const Json& item : config["Env"])
        if (item.is_string()) env.push_back(item.get<std::string>());
    return env;
}

std::optional<std::string> env_value(const Json& image, std::string_view name) {
    for (const std::string& item : env_list(image)) {
        const size_t equals = item.find('=');
        if (std::string_view(item).substr(0, equals) == name)
            return equals == std::string::npos ? std::string() : item.substr(equals + 1);
    }
    return std::nullopt;
}

void set_env(Json& image, const std::string& name, const std::string& value) {
    Json& config = run_config(image);
    if (!config.contains("Env") || !config["Env"].is_array()) config["Env"] = Json::array();
    for (Json& item : config["Env"]) {
        if (!item.is_string()) continue;
        const std::string text = item.get<std::string>();
        if (text.substr(0, text.find('=')) == name) {
            item = name + "=" + value;
            return;
        }
    }
    config["Env"].push_back(name + "=" + value);
}

std::vector<std::string> shell_of(const Json& image) {
    if (image.contains("config") && image["config"].is_object() &&
        image["config"].contains("Shell") && image["config"]["Shell"].is_array() &&
        !image["config"]["Shell"].empty()) {
        std::vector<std::string> shell;
        for (const Json& item : image["config"]["Shell"])
            if (item.is_string()) shell.push_back(item.get<std::string>());
        return shell;
    }
    return {"/bin/sh", "-c"};
}

void record_step(Json& image, const std::string& created_by,
                 const std::optional<std::string>& diff_id, const std::string& created) {
    if (!image.contains("history") || !image["history"].is_array())
        image["history"] = Json::array();
    Json entry{{"created", created}, {"created_by", created_by}, {"comment", "lcloud build"}};
    if (!diff_id) entry["empty_layer"] = true;
    image["history"].push_back(entry);
    if (diff_id) {
        if (!image.contains("rootfs") || !image["rootfs"].is_object())
            image["rootfs"] = {{"type", "layers"}, {"diff_ids", Json::array()}};
        image["rootfs"]["diff_ids"].push_back(*diff_id);
    }
    image["created"] = created;
}

} // namespace lcloud::runtime::image::build

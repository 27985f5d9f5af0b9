#include "runtime/image/build/cache.hpp"

#include "common/error.hpp"
#include "runtime/image/sha256.hpp"
#include "state/atomic_file.hpp"

#include <cerrno>
#include <sys/stat.h>

namespace lcloud::runtime::image::build {

namespace fs = std::filesystem;
using Json = nlohmann::json;

BuildCache::BuildCache(fs::path dir) : dir_(std::move(dir)) {
    if (::mkdir(dir_.c_str(), 0700) != 0 && errno != EEXIST)
        throw_errno("create build cache directory", dir_.string());
}

fs::path BuildCache::path_of(const std::string& key) const {
    return dir_ / (digest_hex(key, "build cache key") + ".json");
}

std::optional<CachedStep> BuildCache::find(const std::string& key, const Store& store) const {
    try {
        const auto text = state::read_file(path_of(key));
        if (!text) return std::nullopt;
        const Json json = Json::parse(*text);
        CachedStep step;
        step.config = json.at("config");
        if (json.contains("layer") && json.at("layer").is_object()) {
            const Json& layer = json.at("layer");
            LayerInfo info;
            info.blob.media_type = layer.at("mediaType").get<std::string>();
            info.blob.digest = layer.at("digest").get<std::string>();
            info.blob.size = layer.at("size").get<uint64_t>();
            info.diff_id = layer.at("diff_id").get<std::string>();
            info.path = store.files().layer_path(info.diff_id);
            if (!store.has_layer(info)) return std::nullopt; // pruned since
            step.layer = info;
        }
        return step;
    } catch (const std::exception&) {
        return std::nullopt; // a damaged entry is a miss, and is written again
    }
}

void BuildCache::save(const std::string& key, const CachedStep& step) const noexcept {
    try {
        Json json{{"config", step.config}};
        if (step.layer)
            json["layer"] = {{"mediaType", step.layer->blob.media_type},
                             {"digest", step.layer->blob.digest},
                             {"size", step.layer->blob.size},
                             {"diff_id", step.layer->diff_id}};
        state::write_file_atomic(path_of(key), json.dump(), 0600, state::Durability::killed_writer);
    } catch (const std::exception&) {
    }
}

std::string state_digest(const std::vector<LayerInfo>& layers, const Json& config) {
    Sha256 hash;
    for (const LayerInfo& layer : layers)
        hash.update(layer.diff_id + "\n");
    hash.update(config.dump());
    return hash.digest();
}

} // namespace lcloud::runtime::image::build

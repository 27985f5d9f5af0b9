#pragma once

// The build cache: what a step made, by a key that hashes everything the step depends on (the
// layers and config before it, its instruction after substitution, the content it copies). One
// file per key under STORE/build-cache/; a hit whose layer the store no longer has is a miss.

#include "runtime/image/store.hpp"

#include <filesystem>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>

namespace lcloud::runtime::image::build {

struct CachedStep {
    nlohmann::json config;          // the whole image config after the step
    std::optional<LayerInfo> layer; // the layer the step made, if it made one
};

class BuildCache {
  public:
    // Creates the directory when missing.
    explicit BuildCache(std::filesystem::path dir);

    const std::filesystem::path& dir() const { return dir_; }
    std::optional<CachedStep> find(const std::string& key, const Store& store) const;
    // Written atomically; a failure only costs a later build time, and is not thrown.
    void save(const std::string& key, const CachedStep& step) const noexcept;

  private:
    std::filesystem::path path_of(const std::string& key) const;
    std::filesystem::path dir_;
};

// The state a step starts from: the layers so far and the config so far, as one digest.
std::string state_digest(const std::vector<LayerInfo>& layers, const nlohmann::json& config);

} // namespace lcloud::runtime::image::build

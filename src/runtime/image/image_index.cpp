#include "runtime/image/image_index.hpp"

#include "runtime/image/errors.hpp"
#include "runtime/image/file_lock.hpp"
#include "runtime/image/sha256.hpp"
#include "state/atomic_file.hpp"

#include <nlohmann/json.hpp>

namespace lcloud::runtime::image {

using Json = nlohmann::json;

ImageIndex load_index(const StoreFiles& files) {
    const auto text = state::read_file(files.index_path());
    ImageIndex index;
    if (!text) return index;
    const std::string what = "image index " + files.index_path().string();
    try {
        const Json json = Json::parse(*text);
        for (const auto& [reference, digest] : json.at("images").items()) {
            index[reference] = digest.get<std::string>();
            digest_hex(index[reference], what + ": images." + reference);
        }
    } catch (const Json::exception& error) {
        throw ImageError(what + " is corrupt (" + error.what() +
                         "); expected {\"images\": {\"NAME:TAG\": \"sha256:...\"}}");
    }
    return index;
}

void update_index(const StoreFiles& files, const std::function<void(ImageIndex&)>& change) {
    const FileLock lock(files.index_lock_path(), FileLock::Mode::exclusive);
    ImageIndex index = load_index(files);
    change(index);
    const Json json{{"schemaVersion", 1}, {"images", index}};
    state::write_file_atomic(files.index_path(), json.dump(2) + "\n", 0644,
                             files.durable() ? state::Durability::power_loss
                                             : state::Durability::killed_writer);
}

} // namespace lcloud::runtime::image

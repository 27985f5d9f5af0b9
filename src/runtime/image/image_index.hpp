#pragma once

#include "runtime/image/store_files.hpp"

#include <functional>
#include <map>
#include <string>

namespace lcloud::runtime::image {

// "name:tag" -> manifest digest.
using ImageIndex = std::map<std::string, std::string>;

// The index as last written (empty when none was). Throws ImageError when the file is corrupt.
ImageIndex load_index(const StoreFiles& files);

// Read, change, write atomically, all under the index lock, so concurrent writers lose nothing.
void update_index(const StoreFiles& files, const std::function<void(ImageIndex&)>& change);

} // namespace lcloud::runtime::image

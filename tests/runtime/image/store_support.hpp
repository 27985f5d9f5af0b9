#pragma once

#include "extract_support.hpp"
#include "image_fixture.hpp"
#include "runtime/image/store.hpp"
#include "support/temp_dir.hpp"

#include <filesystem>
#include <string>

namespace lcloud::test::image {

// A store in a temporary directory, with a scratch directory for the archives fed to it.
struct StoreSandbox {
    TempDir temp;
    std::filesystem::path root = temp.path() / "store";
    std::filesystem::path work = temp.path() / "work";
    runtime::image::Store store{root, runtime::image::StoreOptions{{}, false}};

    StoreSandbox() { std::filesystem::create_directory(work); }

    std::filesystem::path write(const std::string& name, const std::string& content) const {
        write_file(work / name, content);
        return work / name;
    }
    std::string blobs() const { return listing(root / "blobs/sha256"); }
    size_t layer_count() const {
        size_t count = 0;
        for (const auto& ignored : std::filesystem::directory_iterator(root / "layers/sha256")) {
            (void)ignored;
            ++count;
        }
        return count;
    }
    std::string tmp() const { return listing(root / "tmp"); }
    std::filesystem::path layer_dir(const std::string& diff_id) const {
        return root / "layers/sha256" / hex_of(diff_id);
    }
};

} // namespace lcloud::test::image

#pragma once

#include "box/box_store.hpp"
#include "box/errors.hpp"

#include <cstdlib>
#include <filesystem>
#include <string>

namespace lcloud::box {

// A directory beside the boxes (same file system, so a finished box is renamed into place), or
// in `parent`, removed with what is left in it when the build or the add ends, finished or not.
class StagingDir {
  public:
    explicit StagingDir(const std::string& prefix,
                        const std::filesystem::path& parent = boxes_root()) {
        std::filesystem::create_directories(parent);
        std::string pattern = (parent / ("." + prefix + "-XXXXXX")).string();
        if (!::mkdtemp(pattern.data()))
            throw BoxError("cannot make a directory in " + parent.string());
        path_ = pattern;
    }
    ~StagingDir() {
        std::error_code error;
        std::filesystem::remove_all(path_, error);
    }
    StagingDir(const StagingDir&) = delete;
    StagingDir& operator=(const StagingDir&) = delete;
    const std::filesystem::path& path() const { return path_; }

  private:
    std::filesystem::path path_;
};

} // namespace lcloud::box

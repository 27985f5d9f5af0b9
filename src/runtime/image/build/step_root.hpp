#pragma once

// The root a build step works in: the image's layers so far as overlayfs lowers, with a fresh
// upper that collects the step's changes, which become its layer.

#include "common/fd.hpp"
#include "runtime/image/overlay.hpp"
#include "runtime/image/store_files.hpp"

#include <filesystem>
#include <optional>
#include <vector>

namespace lcloud::runtime::image::build {

class StepRoot {
  public:
    // `lower_dirs`: top layer first, empty for scratch. `dir` must not exist: it is created, and
    // removed with everything in it when the object goes (after unmounting).
    StepRoot(const std::vector<std::filesystem::path>& lower_dirs,
             const std::filesystem::path& dir);
    StepRoot(const StepRoot&) = delete;
    StepRoot& operator=(const StepRoot&) = delete;
    ~StepRoot();

    const std::filesystem::path& merged() const { return merged_; }
    const std::filesystem::path& upper() const { return upper_; }
    // The merged root, open while mounted.
    int root_fd() const { return root_.get(); }
    // Unmounts; the upper then holds exactly the step's changes.
    void unmount();

  private:
    RemoveGuard guard_; // first member: removed last, after the mount is gone
    std::filesystem::path upper_;
    std::filesystem::path merged_;
    std::optional<OverlayMount> mount_;
    Fd root_;
};

} // namespace lcloud::runtime::image::build

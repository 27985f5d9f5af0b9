#include "runtime/image/build/step_root.hpp"

#include "common/error.hpp"

#include <fcntl.h>
#include <sys/stat.h>

namespace lcloud::runtime::image::build {

namespace fs = std::filesystem;

namespace {

void make_dir(const fs::path& path, mode_t mode) {
    if (::mkdir(path.c_str(), mode) != 0) throw_errno("create build directory", path.string());
}

} // namespace

StepRoot::StepRoot(const std::vector<fs::path>& lower_dirs, const fs::path& dir)
    : guard_(dir), upper_(dir / "upper"), merged_(dir / "merged") {
    make_dir(dir, 0700);
    make_dir(upper_, 0755);
    make_dir(merged_, 0755);
    make_dir(dir / "work", 0700);
    std::vector<fs::path> lowers = lower_dirs;
    // overlayfs needs a lower layer: FROM scratch has an empty one.
    if (lowers.empty()) {
        make_dir(dir / "empty", 0755);
        lowers.push_back(dir / "empty");
    }
    mount_.emplace(OverlaySpec{lowers, upper_, dir / "work", merged_});
    root_ = Fd(::open(merged_.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    if (!root_) throw_errno("open build root", merged_.string());
}

StepRoot::~StepRoot() {
    root_.reset();
    mount_.reset();
}

void StepRoot::unmount() {
    root_.reset();
    if (mount_) mount_->unmount();
    mount_.reset();
}

} // namespace lcloud::runtime::image::build

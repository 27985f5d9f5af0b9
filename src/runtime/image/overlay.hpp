#pragma once

#include <filesystem>
#include <vector>
#include <utility>

namespace lcloud::runtime::image {

struct OverlaySpec {
    std::vector<std::filesystem::path> lower_dirs; // top layer first (Store::lower_dirs)
    std::filesystem::path upper_dir;               // the container's own changes
    std::filesystem::path work_dir;                // empty, on the same file system as upper_dir
    std::filesystem::path target;
};

// An overlayfs mount, unmounted when the object goes.
class OverlayMount {
  public:
    // Mounts with the new mount API, one "lowerdir+" per layer (Linux 6.8+), else with mount(2)
    // and the layers as short /proc/self/fd paths, so that long store paths or many layers fit
    // in a page. Throws SystemError naming the target and the layers' count, ImageError for an
    // empty lower_dirs.
    explicit OverlayMount(const OverlaySpec& spec);
    OverlayMount(OverlayMount&& other) noexcept;
    OverlayMount& operator=(OverlayMount&& other) noexcept;
    OverlayMount(const OverlayMount&) = delete;
    OverlayMount& operator=(const OverlayMount&) = delete;
    // Detaches the mount (lazily when busy); never throws.
    ~OverlayMount();

    const std::filesystem::path& target() const { return target_; }
    // Unmounts now; throws SystemError when it cannot.
    void unmount();
    // Leaves the mount in place for someone else to unmount (lcloud-agent keeps a container's
    // root mounted across its own restarts); returns its target.
    std::filesystem::path release() { return std::exchange(target_, {}); }

  private:
    std::filesystem::path target_;
};

// For tests and old kernels: whether the "lowerdir+" path is tried first.
void set_overlay_lowerdir_append(bool enabled);

} // namespace lcloud::runtime::image

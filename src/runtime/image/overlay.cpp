#include "runtime/image/overlay.hpp"

#include "common/error.hpp"
#include "common/fd.hpp"
#include "runtime/image/errors.hpp"

#include <atomic>
#include <cerrno>
#include <fcntl.h>
#include <string>
#include <sys/mount.h>
#include <unistd.h>

namespace lcloud::runtime::image {

namespace fs = std::filesystem;

namespace {

std::atomic<bool> lowerdir_append{true};

Fd open_dir(const fs::path& path, const char* role) {
    Fd fd(::open(path.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC));
    if (!fd) throw_errno(std::string("open overlay ") + role, path.string());
    return fd;
}

std::string proc_path(const Fd& fd) {
    return "/proc/self/fd/" + std::to_string(fd.get());
}

// The new mount API; false when the kernel lacks "lowerdir+" (before 6.8).
bool mount_appending(const std::vector<Fd>& lowers, const Fd& upper, const Fd& work,
                     const fs::path& target) {
    Fd context(::fsopen("overlay", FSOPEN_CLOEXEC));
    if (!context) throw_errno("fsopen overlay for", target.string());
    const auto set = [&](const char* key, const std::string& value) {
        return ::fsconfig(context.get(), FSCONFIG_SET_STRING, key, value.c_str(), 0) == 0;
    };
    for (size_t i = 0; i < lowers.size(); ++i) {
        if (set("lowerdir+", proc_path(lowers[i]))) continue;
        if (i == 0 && errno == EINVAL) return false;
        throw_errno("add overlay lower layer " + std::to_string(i) + " for", target.string());
    }
    if (!set("upperdir", proc_path(upper)) || !set("workdir", proc_path(work)))
        throw_errno("set overlay upperdir and workdir for", target.string());
    if (::fsconfig(context.get(), FSCONFIG_CMD_CREATE, nullptr, nullptr, 0) != 0) {
        // Before 6.5, overlayfs has no fs_context of its own: the kernel's legacy one takes any
        // key, "lowerdir+" too, and only the create refuses it (the VM's 6.1 kernel does).
        if (errno == EINVAL) {
            lowerdir_append = false;
            return false;
        }
        throw_errno("create overlay (" + std::to_string(lowers.size()) + " layers) for",
                    target.string());
    }
    Fd mount(::fsmount(context.get(), FSMOUNT_CLOEXEC, 0));
    if (!mount) throw_errno("fsmount overlay for", target.string());
    if (::move_mount(mount.get(), "", AT_FDCWD, target.c_str(), MOVE_MOUNT_F_EMPTY_PATH) != 0)
        throw_errno("move_mount overlay to", target.string());
    return true;
}

void mount_legacy(const std::vector<Fd>& lowers, const Fd& upper, const Fd& work,
                  const fs::path& target) {
    std::string options = "lowerdir=";
    for (size_t i = 0; i < lowers.size(); ++i)
        options += (i ? ":" : "") + proc_path(lowers[i]);
    options += ",upperdir=" + proc_path(upper) + ",workdir=" + proc_path(work);
    if (::mount("overlay", target.c_str(), "overlay", 0, options.c_str()) != 0)
        throw_errno("mount overlay (" + std::to_string(lowers.size()) + " layers) on",
                    target.string());
}

} // namespace

void set_overlay_lowerdir_append(bool enabled) {
    lowerdir_append = enabled;
}

OverlayMount::OverlayMount(const OverlaySpec& spec) : target_(spec.target) {
    if (spec.lower_dirs.empty())
        throw ImageError("overlay for " + spec.target.string() + ": no lower layer given");
    std::vector<Fd> lowers;
    for (const fs::path& lower : spec.lower_dirs)
        lowers.push_back(open_dir(lower, "lower layer"));
    const Fd upper = open_dir(spec.upper_dir, "upperdir");
    const Fd work = open_dir(spec.work_dir, "workdir");
    if (!lowerdir_append || !mount_appending(lowers, upper, work, target_))
        mount_legacy(lowers, upper, work, target_);
}

OverlayMount::OverlayMount(OverlayMount&& other) noexcept
    : target_(std::exchange(other.target_, {})) {}

OverlayMount& OverlayMount::operator=(OverlayMount&& other) noexcept {
    if (this != &other) {
        if (!target_.empty()) ::umount2(target_.c_str(), MNT_DETACH);
        target_ = std::exchange(other.target_, {});
    }
    return *this;
}

OverlayMount::~OverlayMount() {
    if (!target_.empty()) ::umount2(target_.c_str(), MNT_DETACH);
}

void OverlayMount::unmount() {
    if (target_.empty()) return;
    if (::umount2(target_.c_str(), UMOUNT_NOFOLLOW) != 0) throw_errno("unmount", target_.string());
    target_.clear();
}

} // namespace lcloud::runtime::image

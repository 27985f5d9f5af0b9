// unmount_below and remove_tree (bootstrap.hpp): what a tool that mounts inside its tree
// (debootstrap mounts /proc and /sys there) may leave, taken away without reaching the host.

#include "runtime/image/build/bootstrap.hpp"
#include "runtime/image/build/source_tree.hpp"

#include "common/fd.hpp"

#include <algorithm>
#include <fcntl.h>
#include <fstream>
#include <sstream>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

namespace lcloud::runtime::image::build {

namespace fs = std::filesystem;

namespace {

// mountinfo escapes spaces and the like as \ooo.
std::string unescape(const std::string& text) {
    std::string result;
    for (size_t i = 0; i < text.size(); ++i) {
        if (text[i] == '\\' && i + 3 < text.size()) {
            const std::string octal = text.substr(i + 1, 3);
            if (octal.size() == 3 && octal.find_first_not_of("01234567") == std::string::npos) {
                result += static_cast<char>(std::stoi(octal, nullptr, 8));
                i += 3;
                continue;
            }
        }
        result += text[i];
    }
    return result;
}

void remove_below(int dir_fd, dev_t device) {
    std::vector<std::string> names;
    try {
        names = sorted_entries(dir_fd, "tree");
    } catch (const std::exception&) {
        return;
    }
    for (const std::string& name : names) {
        struct stat st {};
        if (::fstatat(dir_fd, name.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0) continue;
        if (S_ISDIR(st.st_mode)) {
            if (st.st_dev != device) continue; // a mount: never emptied
            const Fd child(
                ::openat(dir_fd, name.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
            if (child) remove_below(child.get(), device);
            ::unlinkat(dir_fd, name.c_str(), AT_REMOVEDIR);
        } else {
            ::unlinkat(dir_fd, name.c_str(), 0);
        }
    }
}

} // namespace

void unmount_below(const fs::path& dir) {
    const std::string prefix = fs::absolute(dir).lexically_normal().string();
    std::vector<std::string> targets;
    std::ifstream mountinfo("/proc/self/mountinfo");
    for (std::string line; std::getline(mountinfo, line);) {
        std::istringstream fields(line);
        std::string id, parent, device, root, target;
        fields >> id >> parent >> device >> root >> target;
        target = unescape(target);
        if (target == prefix || target.rfind(prefix + "/", 0) == 0) targets.push_back(target);
    }
    // Deepest first: a parent mount cannot go while a child holds it.
    std::sort(targets.begin(), targets.end(),
              [](const std::string& a, const std::string& b) { return a.size() > b.size(); });
    for (const std::string& target : targets)
        ::umount2(target.c_str(), MNT_DETACH | UMOUNT_NOFOLLOW);
}

void remove_tree(const fs::path& dir) noexcept {
    const Fd root(::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
    if (!root) {
        ::unlink(dir.c_str());
        return;
    }
    struct stat st {};
    if (::fstat(root.get(), &st) != 0) return;
    remove_below(root.get(), st.st_dev);
    ::rmdir(dir.c_str());
}

} // namespace lcloud::runtime::image::build

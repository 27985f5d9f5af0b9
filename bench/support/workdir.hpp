#pragma once

// A benchmark's scratch directory under /tmp, removed with whatever was mounted below it when
// the benchmark ends, and the busybox image the benchmarks run.

#include "process.hpp"

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <sys/mount.h>
#include <vector>

namespace lcloud::bench {

namespace fs = std::filesystem;

// Mount points at or below `dir`, deepest first (mountinfo escapes spaces as \040).
inline std::vector<std::string> mounts_below(const fs::path& dir) {
    std::vector<std::string> found;
    std::ifstream mountinfo("/proc/self/mountinfo");
    for (std::string line; std::getline(mountinfo, line);) {
        std::istringstream fields(line);
        std::string id, parent, device, root, point;
        fields >> id >> parent >> device >> root >> point;
        for (size_t at; (at = point.find("\\040")) != std::string::npos;)
            point.replace(at, 4, " ");
        if (point == dir.string() || point.rfind(dir.string() + "/", 0) == 0)
            found.push_back(point);
    }
    std::sort(found.begin(), found.end(),
              [](const std::string& a, const std::string& b) { return a.size() > b.size(); });
    return found;
}

inline void unmount_below(const fs::path& dir) {
    for (const auto& point : mounts_below(dir))
        ::umount2(point.c_str(), MNT_DETACH);
}

class WorkDir {
  public:
    explicit WorkDir(const std::string& prefix) {
        std::string pattern = "/tmp/" + prefix + "-XXXXXX";
        if (!::mkdtemp(pattern.data())) throw std::runtime_error("mkdtemp failed");
        path_ = pattern;
    }
    WorkDir(const WorkDir&) = delete;
    WorkDir& operator=(const WorkDir&) = delete;
    ~WorkDir() {
        unmount_below(path_);
        std::error_code ignored;
        if (!keep_) fs::remove_all(path_, ignored);
    }
    const fs::path& path() const { return path_; }
    // Leaves the directory (logs) in place at the end.
    void keep() { keep_ = true; }
    RunOptions options(std::vector<std::string> env = {}, int netns_fd = -1) const {
        return {std::move(env), netns_fd, (path_ / "command.out").string()};
    }

  private:
    fs::path path_;
    bool keep_ = false;
};

// A root file system tarball of Debian's busybox-static with every applet (as the tests make
// it), at DIR/busybox.tar.gz.
inline fs::path make_busybox_tarball(const WorkDir& work) {
    const fs::path root = work.path() / "busybox-root";
    for (const char* sub : {"bin", "etc", "tmp", "proc", "sys", "dev", "root", "srv", "var"})
        fs::create_directories(root / sub);
    fs::copy_file("/bin/busybox", root / "bin/busybox");
    std::istringstream applets(run_checked({"/bin/busybox", "--list"}, work.options()).output);
    for (std::string applet; std::getline(applets, applet);)
        if (!applet.empty() && applet != "busybox")
            fs::create_symlink("busybox", root / "bin" / applet);
    std::ofstream(root / "etc/passwd")
        << "root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534::/:/bin/sh\n";
    std::ofstream(root / "etc/group") << "root:x:0:\nnogroup:x:65534:\n";
    const fs::path tarball = work.path() / "busybox.tar.gz";
    run_checked({"tar", "-C", root.string(), "-czf", tarball.string(), "."}, work.options());
    fs::remove_all(root);
    return tarball;
}

} // namespace lcloud::bench

#pragma once

// What the escape tests need around RuntimeUnderTest: host directories a container must not
// reach, a way to see a mount that escaped onto them, and unique markers to look for.

#include "runtime/container/runtime_under_test.hpp"

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <random>
#include <set>
#include <sstream>
#include <stdexcept>
#include <string>
#include <sys/mount.h>
#include <vector>

namespace lcloud::test {

// Content no file of the machine has by chance, so that seeing it proves the file was reached.
inline std::string unique_marker(const std::string& what) {
    std::random_device random;
    std::ostringstream text;
    text << "lcloud-escape-" << what << "-" << std::hex << random() << random();
    return text.str();
}

inline void write_text(const std::filesystem::path& path, const std::string& text) {
    std::ofstream out(path, std::ios::binary);
    out << text;
    if (!out) throw std::runtime_error("cannot write " + path.string());
}

// The lines of this process's /proc/self/mountinfo that name `path` (as source root or mount
// point): a mount that escaped onto a host directory shows here.
inline std::vector<std::string> mounts_mentioning(const std::filesystem::path& path) {
    std::vector<std::string> found;
    std::istringstream lines(read_text("/proc/self/mountinfo"));
    std::string line;
    while (std::getline(lines, line))
        if (line.find(path.string()) != std::string::npos) found.push_back(line);
    return found;
}

// The names in a directory, sorted.
inline std::vector<std::string> listing(const std::filesystem::path& dir) {
    std::vector<std::string> names;
    for (const auto& entry : std::filesystem::directory_iterator(dir))
        names.push_back(entry.path().filename().string());
    std::sort(names.begin(), names.end());
    return names;
}

// A value of /proc/PID/status ("CapInh" -> "0000000000000000").
inline std::string status_field(const std::string& status, const std::string& field) {
    const auto start = status.find("\n" + field + ":");
    if (start == std::string::npos) return "(missing)";
    const auto value = status.find_first_not_of(" \t", start + field.size() + 2);
    return status.substr(value, status.find('\n', value) - value);
}

// A temporary directory on a tmpfs of its own whose propagation is shared. A container made with
// linux.rootfsPropagation "rshared" holds a peer of this mount, so a mount it makes on a path
// under it reaches the host's mount table, where mounts_mentioning sees it; with a private mount
// an escaped mount would stay in the container's namespace, invisible from here. The destructor
// detaches the tmpfs with whatever was mounted under it.
class SharedHostDir {
  public:
    SharedHostDir() {
        path_ = dir_.path() / "shared";
        std::filesystem::create_directory(path_);
        if (::mount("tmpfs", path_.c_str(), "tmpfs", 0, "mode=755,size=1m") != 0)
            throw std::runtime_error("mount tmpfs on " + path_.string() + ": " +
                                     std::strerror(errno));
        mounted_ = true;
        if (::mount(nullptr, path_.c_str(), nullptr, MS_SHARED, nullptr) != 0) {
            const std::string error = std::strerror(errno);
            ::umount2(path_.c_str(), MNT_DETACH);
            throw std::runtime_error("make shared " + path_.string() + ": " + error);
        }
    }
    SharedHostDir(const SharedHostDir&) = delete;
    SharedHostDir& operator=(const SharedHostDir&) = delete;
    ~SharedHostDir() {
        if (mounted_) ::umount2(path_.c_str(), MNT_DETACH);
    }
    const std::filesystem::path& path() const { return path_; }
    // The whole temporary directory, mount point included, for mounts_mentioning.
    const std::filesystem::path& base() const { return dir_.path(); }

  private:
    TempDir dir_;
    std::filesystem::path path_;
    bool mounted_ = false;
};

// A directory on the host, outside every bundle, holding one file with a unique marker: what a
// container that escaped would read, or mount over.
struct HostSecret {
    HostSecret(const std::filesystem::path& parent, const std::string& name)
        : dir(parent / name), marker(unique_marker(name)) {
        std::filesystem::create_directory(dir);
        write_text(dir / "secret", marker);
    }
    std::filesystem::path dir;
    std::string marker;
};

} // namespace lcloud::test

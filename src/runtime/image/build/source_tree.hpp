#pragma once

// Where COPY and ADD take files from: the build context (less what .dockerignore excludes), an
// earlier stage's root, or an archive unpacked for ADD. Every path is resolved beneath the tree's
// root: a symlink in the tree never leads out of it.

#include "common/fd.hpp"
#include "runtime/image/build/ignore.hpp"
#include "runtime/image/layer_writer.hpp"

#include <filesystem>
#include <functional>
#include <map>
#include <string>
#include <string_view>
#include <sys/stat.h>
#include <vector>

namespace lcloud::runtime::image::build {

struct SourceEntry {
    std::string path; // relative to the tree's root; "" is the root itself
    struct stat st {};
    int parent_fd = -1; // the directory holding it (for the root: the root)
    std::string name;   // its name there ("." for the root)
};

// Content digests of files, remembered by (path, device, inode, size, mtime, ctime) in a file,
// so that a rebuild does not read large files again.
class FileHashes {
  public:
    explicit FileHashes(std::filesystem::path file) : file_(std::move(file)) {}
    // sha256 of the file open at `fd`.
    std::string digest(int fd, const struct stat& st, const std::string& path);
    // Writes what was learnt; a failure to write only costs the next build time.
    void save() const noexcept;

  private:
    void load();
    std::filesystem::path file_;
    bool loaded_ = false;
    bool changed_ = false;
    std::map<std::string, std::string> known_;
};

class SourceTree {
  public:
    // `shown` names the tree in messages ("the build context", "stage builder").
    SourceTree(const std::filesystem::path& root, IgnoreRules rules, std::string shown);

    const std::string& shown() const { return shown_; }
    int fd() const { return root_.get(); }
    bool excluded(std::string_view path) const { return rules_.excluded(path); }

    // The paths one COPY source names: itself, or what its glob matches; cleaned, relative,
    // sorted. Throws lcloud::InvalidValue when nothing is there (or all of it is excluded).
    std::vector<std::string> resolve(std::string_view source) const;

    // Visits `path` and, for a directory, everything below it that is not excluded: parents
    // before children, names in order. Throws SystemError naming what cannot be read.
    void walk(const std::string& path, const std::function<void(const SourceEntry&)>& visit) const;

    // One digest of paths, types, modes, sizes and contents of everything `paths` name.
    std::string digest(const std::vector<std::string>& paths, FileHashes& hashes) const;

  private:
    void walk_dir(int dir_fd, const std::string& prefix,
                  const std::function<void(const SourceEntry&)>& visit, int depth_left) const;
    std::vector<std::string> glob(const std::string& pattern) const;

    Fd root_;
    IgnoreRules rules_;
    std::string shown_;
};

} // namespace lcloud::runtime::image::build

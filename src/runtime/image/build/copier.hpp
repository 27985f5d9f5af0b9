#pragma once

// Writes files into an image's root (the merged overlay of a build step) for COPY, ADD and
// WORKDIR. Every destination is resolved inside that root: an absolute symlink in the image
// leads to the image's own directory, never the host's.

#include "common/fd.hpp"
#include "runtime/image/build/source_tree.hpp"

#include <optional>
#include <string>
#include <sys/types.h>

namespace lcloud::runtime::image::build {

struct CopyOptions {
    std::optional<std::pair<uid_t, gid_t>> owner; // nullopt: the source's own
    std::optional<mode_t> mode;                   // --chmod
};

class Copier {
  public:
    // `root_fd`: the image root, open (not owned).
    explicit Copier(int root_fd) : root_fd_(root_fd) {}

    // Copies `path` of `tree` to `dest` (absolute in the image): a directory's contents into
    // dest, anything else as dest itself. Existing files are replaced, existing directories
    // merged into. Throws lcloud::InvalidValue or SystemError naming the path.
    void copy(const SourceTree& tree, const std::string& path, const std::string& dest,
              const CopyOptions& options);

    // mkdir -p inside the root; created directories get `owner` and mode 0755. Returns an O_PATH
    // fd of the directory. Throws InvalidValue when a component is not a directory.
    Fd ensure_directory(const std::string& path, std::pair<uid_t, gid_t> owner);

    // Whether `path` (absolute in the image, symlinks followed inside it) is a directory.
    bool is_directory(const std::string& path) const;

  private:
    void copy_entry(const SourceEntry& entry, int dest_parent, const std::string& name,
                    const std::string& shown, const CopyOptions& options);
    void copy_data(int from, int to, const std::string& shown);

    int root_fd_;
};

// The components of a cleaned absolute path ("/a/b" -> "/a", "b"; "/" -> "/", "").
std::pair<std::string, std::string> split_last(const std::string& path);

} // namespace lcloud::runtime::image::build

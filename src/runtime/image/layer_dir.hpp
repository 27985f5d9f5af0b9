#pragma once

// Where a layer's entries may go: only below the layer directory, reached one component at a time
// without following any symlink, so that no entry of an archive can lead a write outside it.

#include "common/fd.hpp"

#include <string>
#include <string_view>
#include <vector>

namespace lcloud::runtime::image {

// An entry's path as components ("./a//b/" -> a, b). Throws UnsafeArchive for an absolute path
// or a ".." component; the layer root itself has no components.
std::vector<std::string> entry_components(std::string_view entry, std::string_view path);

std::string join_components(const std::vector<std::string>& components, size_t count);

class LayerDir {
  public:
    // `root_fd`: the layer directory, open (not owned).
    explicit LayerDir(int root_fd) : root_fd_(root_fd) {}

    // The directory holding the last component of `components` (which must not be empty),
    // creating missing parents (0755, root). The fd stays valid until the next call. Throws
    // UnsafeArchive naming `entry` when a parent is a symlink or not a directory.
    int parent_of(const std::vector<std::string>& components, std::string_view entry);

    // The same without creating anything; an empty Fd when a parent is missing.
    Fd existing_parent_of(const std::vector<std::string>& components, std::string_view entry);

    // The directory `components` itself (the root when empty); an empty Fd when missing.
    Fd existing_dir(const std::vector<std::string>& components, std::string_view entry);

  private:
    Fd walk(const std::vector<std::string>& components, size_t count, bool create,
            std::string_view entry);

    int root_fd_;
    std::string cached_path_;
    Fd cached_;
};

} // namespace lcloud::runtime::image

#pragma once

// Paths inside a container's root file system, always resolved relative to a directory fd of that
// root as if it were "/": an absolute symlink or a ".." in the rootfs never leads out of it (the
// kernel's RESOLVE_IN_ROOT semantics, which the step-by-step creation below reproduces).

#include "common/error.hpp"
#include "common/fd.hpp"

#include <string>
#include <string_view>
#include <sys/types.h>

namespace lcloud::runtime::rootfs {

// The rootfs or the config asks for something that is unsafe or cannot work; the message names
// the path and says why.
class RootfsError : public Error {
  public:
    using Error::Error;
};

// openat2(RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS) of `path` under `root_fd`, adding O_CLOEXEC.
// A final symlink is followed (inside the root) unless `flags` has O_NOFOLLOW. Throws
// SystemError naming `path`.
Fd open_in_root(int root_fd, std::string_view path, int flags);

// The same, but an empty Fd when the path (or the target of a symlink in it) does not exist.
Fd open_in_root_if_exists(int root_fd, std::string_view path, int flags);

// mkdir -p of `path` inside the root: each missing component is created with mkdirat relative to
// its opened parent; a symlink on the way, dangling or not, is followed inside the root and its
// target created there; a /proc magic link (/proc/self/fd/N) on the way is refused (ELOOP), as
// openat2 refuses it, never walked as the path it reads as. Returns an O_PATH fd of the directory.
// Throws SystemError (ENOTDIR when a component is not a directory).
Fd ensure_directory_in_root(int root_fd, std::string_view path, mode_t mode);

// The same for a file: missing parents are created as directories, a missing last component as
// an empty regular file. An existing non-directory (file, device, socket) is returned as is.
// Returns an O_PATH fd. Throws SystemError (EISDIR when the path is a directory).
Fd ensure_file_in_root(int root_fd, std::string_view path, mode_t mode);

// "/proc/self/fd/N": a path that reaches exactly the file `fd` holds open, for system calls that
// take only paths (mount). Needs a procfs of the caller's pid namespace at /proc.
std::string fd_path(int fd);

// `path` made absolute and normal without touching the file system: "a//b/../c/" -> "/a/c". A
// ".." never climbs above "/".
std::string clean_path(std::string_view path);

} // namespace lcloud::runtime::rootfs

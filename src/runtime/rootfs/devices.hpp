#pragma once

// Device nodes and the /dev symlinks of a container.

#include "runtime/oci/config.hpp"

#include <vector>

namespace lcloud::runtime::rootfs {

// null, zero, full, random, urandom and tty: character devices, 0666, owned by root.
const std::vector<oci::Device>& default_devices();

// Creates each device at its path inside the root (missing parents as directories), with its
// file_mode (0666 when unset) exactly, umask aside, and its uid and gid when given. mknod where
// it is permitted; once the kernel refuses it (EPERM: a user namespace has no CAP_MKNOD over
// device numbers), this and every further device is an empty file with the host's node of the
// same path bind-mounted on it, as runc does; the host's node must then be the same device. An
// existing node of the same type and number is kept; another non-directory there is replaced.
// Throws SystemError naming the device path, RootfsError.
void create_devices(int root_fd, const std::vector<oci::Device>& devices);

// In the root's /dev: fd -> /proc/self/fd, stdin, stdout, stderr -> /proc/self/fd/0, 1, 2,
// core -> /proc/kcore, and ptmx -> pts/ptmx (replacing whatever ptmx was, so that it is the
// devpts instance's). Existing entries of the other names are left alone.
void create_dev_symlinks(int root_fd);

} // namespace lcloud::runtime::rootfs

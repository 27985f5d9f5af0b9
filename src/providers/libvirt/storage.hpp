#pragma once

// Disks live as qcow2 volumes in libvirt's storage pool `lcloud` (a directory pool under
// /var/lib/lcloud/pool), created with the pool when missing.

#include <cstdint>
#include <filesystem>
#include <libvirt/libvirt.h>
#include <string>
#include <vector>

namespace lcloud::providers::libvirt {

inline constexpr const char* pool_name = "lcloud";

// The pool, defined, built and started when it is not.
void ensure_pool(virConnectPtr connection);

// The volume's path, creating it when missing: an empty qcow2 of `capacity` bytes, or, with a
// `backing` file, a copy-on-write overlay of it (never a full copy).
std::filesystem::path ensure_volume(virConnectPtr connection, const std::string& name,
                                    uint64_t capacity, const std::filesystem::path& backing = {});

bool volume_exists(virConnectPtr connection, const std::string& name);

// Deletes the volume; nothing when it does not exist.
void delete_volume(virConnectPtr connection, const std::string& name);

// Names of the pool's volumes that start with `prefix`.
std::vector<std::string> volumes_with_prefix(virConnectPtr connection, const std::string& prefix);

// Volumes whose backing file is `path` (disk-box overlays of a box being removed).
std::vector<std::string> volumes_backed_by(virConnectPtr connection,
                                           const std::filesystem::path& path);

} // namespace lcloud::providers::libvirt

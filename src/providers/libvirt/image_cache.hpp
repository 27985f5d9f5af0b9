#pragma once

// The image cache: what a project's VM built and imported, kept by destroy, so that the next cold
// up of that project finds its images in place instead of building them again under TCG (an
// `apt-get install` in a Containerfile takes a minute there). It is the VM's data disk in its
// pristine state, taken once the images were ready and before any container existed (the
// internal snapshot "lcloud-pristine"), moved out of the pool to
// /var/lib/lcloud/image-cache/<domain>.qcow2. The next data disk is a copy-on-write overlay of
// it. As Compose's `down` keeps images; the newest few are kept.

#include <cstdint>
#include <filesystem>
#include <libvirt/libvirt.h>
#include <optional>
#include <string>
#include <vector>

namespace lcloud::providers::libvirt {

inline constexpr size_t image_caches_kept = 3;

std::filesystem::path image_cache_dir();
std::filesystem::path image_cache_file(const std::string& domain_name);

// The domain's cache, when there is one for a data disk of `capacity` bytes.
std::optional<std::filesystem::path> usable_image_cache(const std::string& domain_name,
                                                        uint64_t capacity);

// Removes all but the `keep` most recently used caches in `dir`, leaving any that a volume is an
// overlay of; returns the files removed.
std::vector<std::string> prune_image_caches(virConnectPtr connection,
                                            const std::filesystem::path& dir, size_t keep);

} // namespace lcloud::providers::libvirt

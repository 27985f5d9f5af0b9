#pragma once

// The box's kernel: Debian's standard linux-image-*-amd64 (the cloud flavour has no 9p), fetched
// with apt into a cache, unpacked, and decompressed ahead of time. Under TCG a guest spends
// seconds unpacking an xz bzImage; the uncompressed vmlinux boots through its PVH entry point.

#include <filesystem>
#include <functional>
#include <string>
#include <vector>

namespace lcloud::box {

using Progress = std::function<void(const std::string&)>;

struct KernelTree {
    std::string release;            // "6.1.0-56-amd64"
    std::string package;            // "linux-image-6.1.0-56-amd64"
    std::string package_version;    // "6.1.192-2"
    std::filesystem::path root;     // the unpacked package: boot/, lib/modules/RELEASE/
    std::filesystem::path bz_image; // root/boot/vmlinuz-RELEASE
    std::filesystem::path modules;  // root/lib/modules/RELEASE
};

// Downloads (once, into `cache`) and unpacks the kernel package into `work`/kernel.
KernelTree fetch_kernel(const std::filesystem::path& cache, const std::filesystem::path& work,
                        const Progress& progress);

// Writes the ELF vmlinux held compressed inside a bzImage.
void extract_vmlinux(const std::filesystem::path& bz_image, const std::filesystem::path& out);

// `wanted` with every module they depend on, as paths relative to the modules directory, from
// its modules.dep (made by depmod when missing). Unknown names are an error.
std::vector<std::string> module_closure(const KernelTree& kernel,
                                        const std::vector<std::string>& wanted);

// Every module under these directories of kernel/ (like "net/netfilter"), by name.
std::vector<std::string> modules_under(const KernelTree& kernel,
                                       const std::vector<std::string>& dirs);

} // namespace lcloud::box

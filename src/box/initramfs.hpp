#pragma once

#include <filesystem>
#include <string>

namespace lcloud::box {

// Copies a program of this host into `root` at `target`, with every shared library `ldd` names
// at the same paths, so that it runs there as it does here. `strip` drops its debug sections.
void copy_program(const std::filesystem::path& program, const std::filesystem::path& root,
                  const std::filesystem::path& target, bool strip = false);

// Packs the tree as an uncompressed newc cpio archive owned by root: under TCG, unpacking a
// compressed initramfs costs the guest more than reading a larger one.
void write_cpio(const std::filesystem::path& root, const std::filesystem::path& out);

} // namespace lcloud::box

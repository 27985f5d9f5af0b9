#pragma once

#include "box/box_store.hpp"

#include <filesystem>
#include <string>

namespace lcloud::box {

// Adds a Vagrant libvirt box (a tar, maybe gzipped: metadata.json with provider libvirt and
// format qcow2, box.img, optionally a kernel and an initrd) as a disk box. `name` defaults to
// the file's name without its extension.
Box add_vagrant_box(const std::filesystem::path& file, std::string name);

} // namespace lcloud::box

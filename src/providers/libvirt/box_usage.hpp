#pragma once

#include "box/box_store.hpp"

#include <filesystem>
#include <string>
#include <vector>

namespace lcloud::providers::libvirt {

// The lcloud domains whose definition refers to a file of the box (its kernel, initrd, or the
// disk their overlay is backed by).
std::vector<std::string> domains_using_box(const std::string& uri, const box::Box& box);

// Deletes the volumes backed by the box's disk; returns their names.
std::vector<std::string> remove_volumes_of_box(const std::string& uri, const box::Box& box);

} // namespace lcloud::providers::libvirt

#pragma once

// Internal to the cgroups module: the steps of Cgroup::create and Cgroup::apply per cgroup version.

#include "runtime/cgroups/cgroup.hpp"

#include <filesystem>
#include <string>
#include <vector>

namespace lcloud::runtime::cgroups::detail {

// The cgroup2 controllers the runtime writes to.
extern const std::vector<std::string> v2_controllers;

// Writes the resources into the v1 directories of a cgroup.
void apply_v1(const oci::Resources& resources, const std::vector<Cgroup::Directory>& directories);

// Writes the resources into a cgroup2 directory.
void apply_v2(const oci::Resources& resources, const std::filesystem::path& directory);

// A new v1 cpuset cgroup starts with empty cpus and mems, and a task cannot join it then: give
// `directory` its parent's values where its own are empty.
void copy_cpuset_from_parent(const std::filesystem::path& directory);

// Enables `wanted` controllers, where cgroup.controllers offers them, in the cgroup.subtree_control
// of every level from `mountpoint` down to the parent of `leaf`.
void enable_controllers(const std::filesystem::path& mountpoint, const std::filesystem::path& leaf,
                        const std::vector<std::string>& wanted);

// `directory` and its sub-cgroups, deepest first.
std::vector<std::filesystem::path> cgroup_tree(const std::filesystem::path& directory);

} // namespace lcloud::runtime::cgroups::detail

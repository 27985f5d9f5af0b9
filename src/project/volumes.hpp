#pragma once

#include "project/model.hpp"

#include <filesystem>
#include <string_view>

namespace lcloud::project {

// Compose's short syntax, SOURCE:TARGET[:ro|rw] or TARGET alone (an anonymous volume):
// - "tmpfs:/tmp" is a tmpfs;
// - "/abs/path:/t" binds a path of the machine the containers run on (the VM, or this host);
// - "./dir:/t" and "~/dir:/t" bind a path relative to the project or the home directory;
// - "name:/t" is a named volume.
// Throws InvalidValue saying what a valid spec looks like.
VolumeMount parse_volume_spec(std::string_view spec, const std::filesystem::path& project_dir,
                              const std::filesystem::path& home_dir);

// Checks a target path and a volume name; shared by the short and the long syntax.
void check_volume_target(std::string_view target);
void check_volume_name(std::string_view name);

std::string format_volume_mount(const VolumeMount& mount);

} // namespace lcloud::project

#pragma once

#include <cstdint>
#include <string_view>
#include <vector>

namespace lcloud::runtime::image::build {

struct ResolvedUser {
    uint32_t uid = 0;
    uint32_t gid = 0;
    std::vector<uint32_t> additional_gids; // the groups of /etc/group that list the user
};

// USER's "name", "uid", "name:group" or "uid:gid", looked up in the image's /etc/passwd and
// /etc/group (opened inside `root_fd`, the image root). A uid that /etc/passwd lacks gets gid 0,
// as with Docker. Throws lcloud::InvalidValue when a name is in neither file.
ResolvedUser resolve_user(int root_fd, std::string_view spec);

} // namespace lcloud::runtime::image::build

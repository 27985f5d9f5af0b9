#include "runtime/image/build/users.hpp"

#include "common/error.hpp"
#include "common/strings.hpp"
#include "runtime/rootfs/safe_path.hpp"

#include <cerrno>
#include <charconv>
#include <fcntl.h>
#include <optional>
#include <string>
#include <unistd.h>

namespace lcloud::runtime::image::build {

namespace {

std::optional<uint32_t> number(std::string_view text) {
    uint32_t value = 0;
    const auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), value);
    if (text.empty() || error != std::errc() || end != text.data() + text.size())
        return std::nullopt;
    return value;
}

// The image's /etc/passwd or /etc/group as lines of fields; empty when it has none.
std::vector<std::vector<std::string>> database(int root_fd, const char* path) {
    std::vector<std::vector<std::string>> entries;
    const Fd fd = rootfs::open_in_root_if_exists(root_fd, path, O_RDONLY);
    if (!fd) return entries;
    std::string text;
    char buffer[65536];
    for (;;) {
        const ssize_t count = ::read(fd.get(), buffer, sizeof buffer);
        if (count < 0 && errno == EINTR) continue;
        if (count < 0) throw_errno("read the image's", path);
        if (count == 0) break;
        text.append(buffer, static_cast<size_t>(count));
    }
    for (const std::string& line : split(text, '\n'))
        if (!line.empty() && line.front() != '#') entries.push_back(split(line, ':'));
    return entries;
}

} // namespace

ResolvedUser resolve_user(int root_fd, std::string_view spec) {
    const size_t colon = spec.find(':');
    const std::string_view user = spec.substr(0, colon);
    const std::optional<std::string_view> group =
        colon == std::string_view::npos ? std::nullopt
                                        : std::optional<std::string_view>(spec.substr(colon + 1));
    ResolvedUser resolved;
    std::string user_name;
    const auto passwd = database(root_fd, "/etc/passwd");
    const std::optional<uint32_t> uid = number(user);
    bool found = false;
    for (const auto& fields : passwd) {
        if (fields.size() < 4) continue;
        if (uid ? number(fields[2]) == uid : fields[0] == user) {
            resolved.uid = number(fields[2]).value_or(0);
            resolved.gid = number(fields[3]).value_or(0);
            user_name = fields[0];
            found = true;
            break;
        }
    }
    if (!found && !uid)
        throw InvalidValue("unable to find user " + std::string(user) +
                           ": no matching entries in the image's /etc/passwd");
    if (!found) resolved.uid = *uid;
    const auto groups = database(root_fd, "/etc/group");
    if (group) {
        const std::optional<uint32_t> gid = number(*group);
        if (gid) {
            resolved.gid = *gid;
        } else {
            bool group_found = false;
            for (const auto& fields : groups)
                if (fields.size() >= 3 && fields[0] == *group) {
                    resolved.gid = number(fields[2]).value_or(0);
                    group_found = true;
                }
            if (!group_found)
                throw InvalidValue("unable to find group " + std::string(*group) +
                                   ": no matching entries in the image's /etc/group");
        }
    }
    if (user_name.empty()) return resolved;
    for (const auto& fields : groups) {
        if (fields.size() < 4) continue;
        const auto gid = number(fields[2]);
        if (!gid || *gid == resolved.gid) continue;
        for (const std::string& member : split(fields[3], ','))
            if (member == user_name) resolved.additional_gids.push_back(*gid);
    }
    return resolved;
}

} // namespace lcloud::runtime::image::build

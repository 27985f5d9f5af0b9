#include "project/volumes.hpp"

#include "common/strings.hpp"

#include <algorithm>
#include <cctype>
#include <fmt/format.h>

namespace lcloud::project {

constexpr auto volume_hint = "expected SOURCE:TARGET[:ro], for example \"./src:/app:ro\", "
                             "\"data:/var/lib/data\" or \"tmpfs:/tmp\"";

void check_volume_target(std::string_view target) {
    if (target.empty() || target.front() != '/')
        throw InvalidValue(fmt::format(
            "volume target '{}' must be an absolute path in the container, such as /data", target));
    if (target == "/")
        throw InvalidValue("volume target '/' would hide the whole image; mount on a directory "
                           "such as /data");
}

void check_volume_name(std::string_view name) {
    const bool valid = !name.empty() && std::isalnum(static_cast<unsigned char>(name.front())) &&
                       std::all_of(name.begin(), name.end(), [](unsigned char c) {
                           return std::isalnum(c) || c == '_' || c == '.' || c == '-';
                       });
    if (!valid)
        throw InvalidValue(fmt::format(
            "invalid volume name '{}': use letters, digits, '_', '.' and '-', starting with a "
            "letter or digit; for a path relative to the project write './{}'",
            name, name));
}

VolumeMount parse_volume_spec(std::string_view spec, const std::filesystem::path& project_dir,
                              const std::filesystem::path& home_dir) {
    const auto parts = split(trim(spec), ':');
    if (parts.size() > 3 || parts.back().empty() || parts.front().empty())
        throw InvalidValue(fmt::format("invalid volume '{}': {}", spec, volume_hint));

    VolumeMount mount;
    if (parts.size() == 1) {
        mount.type = VolumeType::volume;
        mount.target = parts[0];
        check_volume_target(mount.target);
        return mount;
    }

    const std::string& source = parts[0];
    mount.target = parts[1];
    check_volume_target(mount.target);
    if (parts.size() == 3) {
        for (const auto& option : split(parts[2], ',')) {
            if (option == "ro")
                mount.read_only = true;
            else if (option == "rw")
                mount.read_only = false;
            else
                throw InvalidValue(fmt::format(
                    "invalid volume mode '{}' in '{}': expected ro or rw", option, spec));
        }
    }

    if (source == "tmpfs") {
        mount.type = VolumeType::tmpfs;
    } else if (source.front() == '/') {
        mount.type = VolumeType::bind;
        mount.source = std::filesystem::path(source).lexically_normal().string();
    } else if (source == "." || source.starts_with("./") || source.starts_with("../")) {
        mount.type = VolumeType::bind;
        mount.source = (project_dir / source).lexically_normal().string();
    } else if (source == "~" || source.starts_with("~/")) {
        mount.type = VolumeType::bind;
        mount.source = (home_dir / source.substr(std::min<size_t>(2, source.size())))
                           .lexically_normal()
                           .string();
    } else {
        check_volume_name(source);
        mount.type = VolumeType::volume;
        mount.source = source;
    }
    if (mount.source.size() > 1 && mount.source.back() == '/') mount.source.pop_back();
    return mount;
}

std::string format_volume_mount(const VolumeMount& mount) {
    const std::string source = mount.type == VolumeType::tmpfs ? "tmpfs" : mount.source;
    std::string text = source.empty() ? mount.target : source + ":" + mount.target;
    if (mount.read_only) text += ":ro";
    return text;
}

} // namespace lcloud::project

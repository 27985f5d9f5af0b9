#include "runtime/rootfs/mounts.hpp"
#include "runtime/rootfs/safe_path.hpp"

#include <algorithm>
#include <array>
#include <string_view>
#include <sys/mount.h>

namespace lcloud::runtime::rootfs {

namespace {

struct FlagOption {
    std::string_view name;
    bool clear;
    unsigned long flag;
};

constexpr std::array<FlagOption, 28> flag_options{{
    {"ro", false, MS_RDONLY},
    {"rw", true, MS_RDONLY},
    {"nosuid", false, MS_NOSUID},
    {"suid", true, MS_NOSUID},
    {"nodev", false, MS_NODEV},
    {"dev", true, MS_NODEV},
    {"noexec", false, MS_NOEXEC},
    {"exec", true, MS_NOEXEC},
    {"sync", false, MS_SYNCHRONOUS},
    {"async", true, MS_SYNCHRONOUS},
    {"dirsync", false, MS_DIRSYNC},
    {"remount", false, MS_REMOUNT},
    {"mand", false, MS_MANDLOCK},
    {"nomand", true, MS_MANDLOCK},
    {"atime", true, MS_NOATIME},
    {"noatime", false, MS_NOATIME},
    {"diratime", true, MS_NODIRATIME},
    {"nodiratime", false, MS_NODIRATIME},
    {"relatime", false, MS_RELATIME},
    {"norelatime", true, MS_RELATIME},
    {"strictatime", false, MS_STRICTATIME},
    {"nostrictatime", true, MS_STRICTATIME},
    {"nosymfollow", false, MS_NOSYMFOLLOW},
    {"symfollow", true, MS_NOSYMFOLLOW},
    {"bind", false, MS_BIND},
    {"rbind", false, MS_BIND | MS_REC},
    {"silent", false, MS_SILENT},
    {"loud", true, MS_SILENT},
}};

constexpr std::array<std::pair<std::string_view, unsigned long>, 8> propagation_options{{
    {"private", MS_PRIVATE},
    {"rprivate", MS_PRIVATE | MS_REC},
    {"shared", MS_SHARED},
    {"rshared", MS_SHARED | MS_REC},
    {"slave", MS_SLAVE},
    {"rslave", MS_SLAVE | MS_REC},
    {"unbindable", MS_UNBINDABLE},
    {"runbindable", MS_UNBINDABLE | MS_REC},
}};

// Options of the runtime spec that need mount_setattr or idmapped mounts; as file system data
// they would fail with a bare EINVAL far from the cause.
constexpr std::array<std::string_view, 24> unsupported_options{
    "rro",       "rrw",         "rnosuid",      "rsuid",          "rnodev",       "rdev",
    "rnoexec",   "rexec",       "rnoatime",     "ratime",         "rnodiratime",  "rdiratime",
    "rrelatime", "rnorelatime", "rstrictatime", "rnostrictatime", "rnosymfollow", "rsymfollow",
    "tmpcopyup", "idmap",       "ridmap",       "copy-symlink",   "src-nofollow", "dest-nofollow",
};

} // namespace

MountOptions parse_mount_options(const std::vector<std::string>& options) {
    MountOptions parsed;
    for (const auto& option : options) {
        if (option.empty()) continue;
        const auto flag =
            std::find_if(flag_options.begin(), flag_options.end(),
                         [&](const FlagOption& known) { return known.name == option; });
        if (flag != flag_options.end()) {
            if (flag->clear) {
                parsed.flags &= ~flag->flag;
                parsed.clear_flags |= flag->flag;
            } else {
                parsed.flags |= flag->flag;
                parsed.clear_flags &= ~flag->flag;
            }
            if (flag->flag & MS_BIND) {
                parsed.bind = true;
                parsed.recursive = parsed.recursive || (flag->flag & MS_REC) != 0;
            }
            continue;
        }
        const auto propagation =
            std::find_if(propagation_options.begin(), propagation_options.end(),
                         [&](const auto& known) { return known.first == option; });
        if (propagation != propagation_options.end()) {
            parsed.propagation = propagation->second;
            continue;
        }
        if (std::find(unsupported_options.begin(), unsupported_options.end(), option) !=
            unsupported_options.end())
            throw RootfsError("mount option \"" + option + "\" is not supported by lcloud-runtime");
        if (!parsed.data.empty()) parsed.data += ',';
        parsed.data += option;
    }
    return parsed;
}

} // namespace lcloud::runtime::rootfs

#include "runtime/cgroups/layout.hpp"

#include "common/error.hpp"
#include "common/strings.hpp"
#include "state/atomic_file.hpp"

#include <algorithm>
#include <fmt/format.h>
#include <linux/magic.h>
#include <set>
#include <sys/statfs.h>

namespace lcloud::runtime::cgroups {

namespace fs = std::filesystem;

namespace {

// The v1 controllers the runtime writes to (cpuacct only for stats, like runc).
const std::vector<std::string_view> runtime_controllers = {"cpu",  "cpuacct", "cpuset",  "memory",
                                                           "pids", "blkio",   "devices", "freezer"};

// Superoptions of a v1 mount mix controllers with options such as "rw" or "clone_children".
const std::set<std::string_view> known_v1_controllers = {
    "cpu",   "cpuacct", "cpuset",     "memory",  "devices", "freezer", "net_cls", "net_prio",
    "blkio", "pids",    "perf_event", "hugetlb", "rdma",    "misc",    "debug"};

long fs_magic(const fs::path& path) {
    struct statfs info {};
    if (::statfs(path.c_str(), &info) != 0) throw_errno("statfs", path.string());
    return static_cast<long>(info.f_type);
}

// mountinfo escapes space, tab, newline and backslash as \ooo.
std::string unescape(std::string_view text) {
    std::string out;
    for (size_t i = 0; i < text.size(); ++i) {
        if (text[i] == '\\' && i + 3 < text.size()) {
            const std::string_view digits = text.substr(i + 1, 3);
            if (digits.find_first_not_of("01234567") == std::string_view::npos) {
                out += static_cast<char>(std::stoi(std::string(digits), nullptr, 8));
                i += 3;
                continue;
            }
        }
        out += text[i];
    }
    return out;
}

// Higher is better when one hierarchy is mounted several times.
int mount_preference(const Hierarchy& hierarchy) {
    const std::string mountpoint = hierarchy.mountpoint.string();
    return (hierarchy.root == "/" ? 2 : 0) + (mountpoint.rfind("/sys/fs/cgroup", 0) == 0 ? 1 : 0);
}

std::vector<std::string> sorted(std::vector<std::string> names) {
    std::sort(names.begin(), names.end());
    return names;
}

bool is_below(const std::string& path, const std::string& root) {
    if (root == "/") return true;
    return path == root || (path.rfind(root, 0) == 0 && path[root.size()] == '/');
}

} // namespace

std::string_view to_string(Layout layout) {
    switch (layout) {
    case Layout::v1:
        return "v1";
    case Layout::hybrid:
        return "hybrid";
    case Layout::v2:
        return "v2";
    }
    return "?";
}

Layout detect_layout(const fs::path& root) {
    const long magic = fs_magic(root);
    if (magic == CGROUP2_SUPER_MAGIC) return Layout::v2;
    if (magic == TMPFS_MAGIC) {
        std::error_code error;
        const fs::path unified = root / "unified";
        if (fs::is_directory(unified, error) && fs_magic(unified) == CGROUP2_SUPER_MAGIC)
            return Layout::hybrid;
        return Layout::v1;
    }
    if (magic == CGROUP_SUPER_MAGIC) return Layout::v1;
    throw Error(fmt::format("{} is not a cgroup file system (statfs magic {:#x}); mount cgroup2 "
                            "there, or a tmpfs with cgroup v1 hierarchies under it",
                            root.string(), magic));
}

bool Hierarchy::has(std::string_view controller) const {
    return std::find(controllers.begin(), controllers.end(), controller) != controllers.end();
}

fs::path Hierarchy::directory_of(const std::string& cgroup) const {
    if (!is_below(cgroup, root))
        throw Error(fmt::format("cgroup {} is outside the part of its hierarchy mounted at {} "
                                "(which shows cgroup {} and below)",
                                cgroup, mountpoint.string(), root));
    const std::string rest = root == "/" ? cgroup : cgroup.substr(root.size());
    fs::path directory = mountpoint;
    for (const std::string& part : split(rest, '/'))
        if (!part.empty()) directory /= part;
    return directory;
}

std::vector<Hierarchy> parse_mountinfo(std::string_view mountinfo) {
    std::vector<Hierarchy> hierarchies;
    for (const std::string& line : split(mountinfo, '\n')) {
        const std::vector<std::string> fields = split(line, ' ');
        const auto separator = std::find(fields.begin(), fields.end(), "-");
        if (fields.size() < 5 || separator == fields.end() || fields.end() - separator < 4)
            continue;
        const std::string& type = *(separator + 1);
        if (type != "cgroup" && type != "cgroup2") continue;
        Hierarchy hierarchy;
        hierarchy.device = fields[2];
        hierarchy.root = unescape(fields[3]);
        hierarchy.mountpoint = unescape(fields[4]);
        hierarchy.unified = type == "cgroup2";
        if (!hierarchy.unified)
            for (const std::string& option : split(*(separator + 3), ','))
                if (known_v1_controllers.count(option) || option.rfind("name=", 0) == 0)
                    hierarchy.controllers.push_back(option);
        const auto same = std::find_if(hierarchies.begin(), hierarchies.end(),
                                       [&](const Hierarchy& h) { return h.device == fields[2]; });
        if (same == hierarchies.end())
            hierarchies.push_back(std::move(hierarchy));
        else if (mount_preference(hierarchy) > mount_preference(*same))
            *same = std::move(hierarchy);
    }
    return hierarchies;
}

std::vector<Hierarchy> mounted_hierarchies() {
    const auto content = state::read_file("/proc/self/mountinfo");
    if (!content) throw Error("/proc/self/mountinfo does not exist: is /proc mounted?");
    return parse_mountinfo(*content);
}

std::vector<Hierarchy> runtime_hierarchies(Layout layout, const std::vector<Hierarchy>& mounted) {
    std::vector<Hierarchy> chosen;
    const Hierarchy* unified = nullptr;
    for (const Hierarchy& hierarchy : mounted) {
        if (hierarchy.unified) {
            if (!unified || mount_preference(hierarchy) > mount_preference(*unified))
                unified = &hierarchy;
            continue;
        }
        if (layout == Layout::v2) continue;
        if (std::any_of(runtime_controllers.begin(), runtime_controllers.end(),
                        [&](std::string_view name) { return hierarchy.has(name); }))
            chosen.push_back(hierarchy);
    }
    if (layout != Layout::v1 && unified) chosen.push_back(*unified);
    if (chosen.empty())
        throw Error(fmt::format("no cgroup hierarchy for a {} layout is mounted (see "
                                "/proc/self/mountinfo): mount cgroup2 on /sys/fs/cgroup, or the v1 "
                                "controllers under it",
                                to_string(layout)));
    return chosen;
}

std::vector<ProcCgroup> parse_proc_cgroup(std::string_view content) {
    std::vector<ProcCgroup> entries;
    for (const std::string& line : split(content, '\n')) {
        const size_t first = line.find(':');
        const size_t second = first == std::string::npos ? first : line.find(':', first + 1);
        if (second == std::string::npos) continue;
        ProcCgroup entry;
        try {
            entry.id = std::stoi(line.substr(0, first));
        } catch (const std::exception&) {
            continue;
        }
        const std::string controllers = line.substr(first + 1, second - first - 1);
        if (!controllers.empty()) entry.controllers = split(controllers, ',');
        entry.path = line.substr(second + 1);
        entries.push_back(std::move(entry));
    }
    return entries;
}

std::string own_cgroup(const Hierarchy& hierarchy, const std::vector<ProcCgroup>& own) {
    for (const ProcCgroup& entry : own) {
        if (hierarchy.unified ? (entry.id == 0 && entry.controllers.empty())
                              : sorted(entry.controllers) == sorted(hierarchy.controllers))
            return entry.path;
    }
    throw Error(fmt::format("/proc/self/cgroup has no line for the hierarchy mounted at {}, so a "
                            "relative cgroupsPath cannot be placed in it; use an absolute one",
                            hierarchy.mountpoint.string()));
}

std::string resolve_cgroup_path(const std::string& cgroups_path, const std::string& container_id,
                                const std::string& own) {
    std::string combined;
    if (cgroups_path.empty()) {
        if (container_id.empty() || container_id == "." || container_id == ".." ||
            container_id.find('/') != std::string::npos)
            throw Error(fmt::format("container id \"{}\" cannot name a cgroup: it must be "
                                    "non-empty, without \"/\", and not \".\" or \"..\"",
                                    container_id));
        combined = "/lcloud/" + container_id;
    } else if (cgroups_path.front() == '/') {
        combined = cgroups_path;
    } else {
        combined = own + "/" + cgroups_path;
    }
    std::string normalized;
    for (const std::string& part : split(combined, '/')) {
        if (part.empty()) continue;
        if (part == "." || part == "..")
            throw Error(fmt::format("cgroupsPath \"{}\" contains \"{}\": give a path without "
                                    "\".\" or \"..\" components",
                                    cgroups_path, part));
        normalized += "/" + part;
    }
    if (normalized.empty())
        throw Error(fmt::format("cgroupsPath \"{}\" names the root cgroup, which holds the whole "
                                "machine: give a cgroup below it, such as /lcloud/<id>",
                                cgroups_path));
    return normalized;
}

} // namespace lcloud::runtime::cgroups

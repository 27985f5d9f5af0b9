#include "runtime/cgroups/cgroup.hpp"

#include "runtime/cgroups/apply.hpp"
#include "state/atomic_file.hpp"

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <fmt/format.h>
#include <sys/stat.h>
#include <thread>
#include <unistd.h>

namespace lcloud::runtime::cgroups {

namespace fs = std::filesystem;
using namespace std::chrono_literals;

namespace {

[[noreturn]] void throw_cgroup_errno(const std::string& operation, const fs::path& path,
                                     std::string_view hint = {}) {
    const int error_number = errno;
    throw CgroupError(fmt::format("{} {}: {}{}{}", operation, path.string(),
                                  std::strerror(error_number), hint.empty() ? "" : "; ", hint),
                      error_number);
}

// Removes the directories a failed create made, deepest first.
class CreatedDirectories {
  public:
    CreatedDirectories() = default;
    CreatedDirectories(const CreatedDirectories&) = delete;
    CreatedDirectories& operator=(const CreatedDirectories&) = delete;
    ~CreatedDirectories() {
        for (auto it = paths_.rbegin(); it != paths_.rend(); ++it)
            ::rmdir(it->c_str());
    }
    void add(const fs::path& path) { paths_.push_back(path); }
    void release() { paths_.clear(); }

  private:
    std::vector<fs::path> paths_;
};

// Whether `path` is `mountpoint` or below it, compared by whole components.
bool is_inside(const fs::path& path, const fs::path& mountpoint) {
    auto [end, unused] =
        std::mismatch(mountpoint.begin(), mountpoint.end(), path.begin(), path.end());
    (void)unused;
    return end == mountpoint.end();
}

void remove_directory(const fs::path& directory) {
    const auto deadline = std::chrono::steady_clock::now() + 2s;
    auto pause = 1ms;
    for (;;) {
        if (::rmdir(directory.c_str()) == 0 || errno == ENOENT) return;
        // A killed process leaves its cgroup a moment after it is reported dead.
        if (errno != EBUSY || std::chrono::steady_clock::now() >= deadline)
            throw_cgroup_errno("remove cgroup directory", directory,
                               "it still has processes (see its cgroup.procs) or sub-cgroups");
        std::this_thread::sleep_for(pause);
        pause = std::min(pause * 2, 20ms);
    }
}

} // namespace

namespace detail {

std::vector<fs::path> cgroup_tree(const fs::path& directory) {
    std::vector<fs::path> tree;
    std::error_code error;
    for (fs::directory_iterator it(directory, error), end; !error && it != end;
         it.increment(error)) {
        std::error_code type_error;
        if (it->is_directory(type_error) && !it->is_symlink(type_error))
            for (fs::path& below : cgroup_tree(it->path()))
                tree.push_back(std::move(below));
    }
    tree.push_back(directory);
    return tree;
}

void copy_cpuset_from_parent(const fs::path& directory) {
    for (const char* name : {"cpuset.cpus", "cpuset.mems"}) {
        const auto own = read_value(directory / name);
        if (!own || !own->empty()) continue;
        const auto parent = read_value(directory.parent_path() / name);
        if (!parent || parent->empty())
            throw CgroupError(fmt::format("{} is empty, so {} cannot inherit it: give the parent "
                                          "cgroup cpus and mems first",
                                          (directory.parent_path() / name).string(),
                                          (directory / name).string()));
        write_value(directory / name, *parent, "the parent's value, which should always fit");
    }
}

void enable_controllers(const fs::path& mountpoint, const fs::path& leaf,
                        const std::vector<std::string>& wanted) {
    std::vector<fs::path> levels;
    for (fs::path level = leaf.parent_path(); is_inside(level, mountpoint);
         level = level.parent_path()) {
        levels.push_back(level);
        if (level == mountpoint || level == level.parent_path()) break;
    }
    std::reverse(levels.begin(), levels.end());
    for (const fs::path& level : levels) {
        const std::vector<std::string> available =
            words(read_value(level / "cgroup.controllers").value_or(""));
        const std::vector<std::string> enabled =
            words(read_value(level / "cgroup.subtree_control").value_or(""));
        for (const std::string& controller : wanted) {
            const auto in = [&](const std::vector<std::string>& list) {
                return std::find(list.begin(), list.end(), controller) != list.end();
            };
            if (!in(available) || in(enabled)) continue;
            write_value(level / "cgroup.subtree_control", "+" + controller,
                        "cgroup v2 lets only a cgroup without processes of its own enable "
                        "controllers for its children: move them out, or use an absolute "
                        "cgroupsPath outside this cgroup");
        }
    }
}

} // namespace detail

Cgroup Cgroup::create(const std::string& cgroups_path, const std::string& container_id) {
    const Layout layout = detect_layout();
    return create_in(runtime_hierarchies(layout, mounted_hierarchies()), layout, cgroups_path,
                     container_id);
}

Cgroup Cgroup::create_in(const std::vector<Hierarchy>& hierarchies, Layout layout,
                         const std::string& cgroups_path, const std::string& container_id) {
    std::vector<ProcCgroup> own;
    const bool relative = !cgroups_path.empty() && cgroups_path.front() != '/';
    if (relative) {
        const auto content = state::read_file("/proc/self/cgroup");
        if (!content) throw CgroupError("/proc/self/cgroup does not exist: is /proc mounted?");
        own = parse_proc_cgroup(*content);
    }
    Cgroup cgroup;
    CreatedDirectories created;
    for (const Hierarchy& hierarchy : hierarchies) {
        const std::string path = resolve_cgroup_path(cgroups_path, container_id,
                                                     relative ? own_cgroup(hierarchy, own) : "/");
        const fs::path leaf = hierarchy.directory_of(path);
        std::vector<fs::path> levels;
        for (fs::path level = leaf; level != hierarchy.mountpoint && level != level.parent_path();
             level = level.parent_path())
            levels.push_back(level);
        std::reverse(levels.begin(), levels.end());
        bool leaf_existed = false;
        int retries = 5;
        for (size_t index = 0; index < levels.size(); ++index) {
            const fs::path& level = levels[index];
            if (::mkdir(level.c_str(), 0755) == 0) {
                created.add(level);
            } else if (errno == EEXIST) {
                leaf_existed = level == leaf;
            } else if (errno == ENOENT && index > 0 && retries-- > 0) {
                // The last container of a shared parent (/lcloud) removed it just now.
                index = static_cast<size_t>(-1);
                continue;
            } else {
                throw_cgroup_errno("create cgroup directory", level,
                                   "creating cgroups needs root (or a delegated hierarchy) and "
                                   "a writable cgroup mount");
            }
            if (hierarchy.has("cpuset")) detail::copy_cpuset_from_parent(level);
        }
        if (layout == Layout::v2 && hierarchy.unified)
            detail::enable_controllers(hierarchy.mountpoint, leaf, detail::v2_controllers);
        cgroup.directories_.push_back({leaf, hierarchy.unified, hierarchy.controllers});
        if (leaf_existed) {
            Cgroup existing;
            existing.directories_.push_back(cgroup.directories_.back());
            const std::vector<pid_t> pids = existing.all_pids();
            if (!pids.empty())
                throw CgroupError(fmt::format("cgroup {} exists and has processes ({}): another "
                                              "container uses this cgroupsPath; give each "
                                              "container its own",
                                              leaf.string(), fmt::join(pids, " ")));
        }
    }
    created.release();
    return cgroup;
}

Cgroup Cgroup::open(const std::vector<std::string>& paths) {
    const std::vector<Hierarchy> mounted = mounted_hierarchies();
    Cgroup cgroup;
    for (const std::string& text : paths) {
        const fs::path path = fs::path(text).lexically_normal();
        const Hierarchy* best = nullptr;
        for (const Hierarchy& hierarchy : mounted) {
            if (path == hierarchy.mountpoint || !is_inside(path, hierarchy.mountpoint)) continue;
            if (!best || hierarchy.mountpoint.string().size() > best->mountpoint.string().size())
                best = &hierarchy;
        }
        if (!path.is_absolute() || !best || path.string() != text)
            throw CgroupError(fmt::format("cgroup path \"{}\" is not a normalized absolute path "
                                          "below a mounted cgroup hierarchy (see "
                                          "/proc/self/mountinfo)",
                                          text));
        cgroup.directories_.push_back({path, best->unified, best->controllers});
    }
    return cgroup;
}

void Cgroup::apply(const oci::Resources& resources) {
    if (uses_v2())
        detail::apply_v2(resources, v2()->path);
    else
        detail::apply_v1(resources, directories_);
}

void Cgroup::add_process(pid_t pid) {
    for (const Directory& directory : directories_)
        write_value(directory.path / "cgroup.procs", std::to_string(pid),
                    "the process must exist, and on cgroup v2 the cgroup must have no "
                    "controllers enabled for children (cgroup.subtree_control)");
}

std::vector<pid_t> Cgroup::pids() const {
    const Directory* source = v1("memory");
    if (!source) source = v2();
    if (!source && !directories_.empty()) source = &directories_.front();
    std::vector<pid_t> pids;
    if (!source) return pids;
    for (const fs::path& directory : detail::cgroup_tree(source->path))
        for (pid_t pid : read_pids(directory / "cgroup.procs"))
            pids.push_back(pid);
    std::sort(pids.begin(), pids.end());
    pids.erase(std::unique(pids.begin(), pids.end()), pids.end());
    return pids;
}

std::vector<pid_t> Cgroup::all_pids() const {
    std::vector<pid_t> pids;
    for (const Directory& each : directories_)
        for (const fs::path& directory : detail::cgroup_tree(each.path))
            for (pid_t pid : read_pids(directory / "cgroup.procs"))
                pids.push_back(pid);
    std::sort(pids.begin(), pids.end());
    pids.erase(std::unique(pids.begin(), pids.end()), pids.end());
    return pids;
}

void Cgroup::remove() {
    const bool any = std::any_of(directories_.begin(), directories_.end(), [](const Directory& d) {
        return ::access(d.path.c_str(), F_OK) == 0;
    });
    if (!any) return;
    // Usually the container's pid namespace died with its init and took every process along:
    // then the directories go at once. One that goes had no process in or below it, and every
    // process of the container is in each hierarchy, so none is left and no kill (which reads
    // every hierarchy) is needed.
    bool empty = false;
    for (const Directory& directory : directories_) {
        if (::rmdir(directory.path.c_str()) == 0)
            empty = true;
        else if (errno != ENOENT)
            break;
    }
    if (!empty) kill_all(SIGKILL);
    for (const Directory& directory : directories_)
        if (::access(directory.path.c_str(), F_OK) == 0)
            for (const fs::path& each : detail::cgroup_tree(directory.path))
                remove_directory(each);
    // The parents lcloud makes (/lcloud, see resolve_cgroup_path; lcloud-agent's /lcloud-agent)
    // go with their last container; while others remain the kernel refuses, which is fine.
    for (const Directory& directory : directories_) {
        const std::string parent = directory.path.parent_path().filename().string();
        if (parent == "lcloud" || parent == "lcloud-agent")
            ::rmdir(directory.path.parent_path().c_str());
    }
}

uint64_t Cgroup::memory_usage() const {
    std::optional<std::string> value;
    if (const Directory* memory = v1("memory"))
        value = read_value(memory->path / "memory.usage_in_bytes");
    else if (const Directory* unified = v2())
        value = read_value(unified->path / "memory.current");
    return value && !value->empty() ? std::stoull(*value) : 0;
}

std::vector<std::string> Cgroup::paths() const {
    std::vector<std::string> paths;
    for (const Directory& directory : directories_)
        paths.push_back(directory.path.string());
    return paths;
}

bool Cgroup::uses_v2() const {
    return v2() && std::none_of(directories_.begin(), directories_.end(),
                                [](const Directory& d) { return !d.unified; });
}

const Cgroup::Directory* Cgroup::v1(std::string_view controller) const {
    for (const Directory& directory : directories_)
        if (!directory.unified &&
            std::find(directory.controllers.begin(), directory.controllers.end(), controller) !=
                directory.controllers.end())
            return &directory;
    return nullptr;
}

const Cgroup::Directory* Cgroup::v2() const {
    for (const Directory& directory : directories_)
        if (directory.unified) return &directory;
    return nullptr;
}

CgroupGuard::~CgroupGuard() {
    if (!armed_) return;
    try {
        cgroup_.remove();
    } catch (const std::exception&) {
        // Cleanup on a failure path: the first error is the one to report.
    }
}

Cgroup CgroupGuard::release() {
    armed_ = false;
    return std::move(cgroup_);
}

} // namespace lcloud::runtime::cgroups

#include "box/agent_image.hpp"

#include "box/box_store.hpp"
#include "box/errors.hpp"
#include "box/initramfs.hpp"
#include "box/staging_dir.hpp"
#include "common/command.hpp"
#include "common/error.hpp"
#include "common/fd.hpp"
#include "runtime/image/file_lock.hpp"
#include "state/atomic_file.hpp"

#include <algorithm>
#include <cstdlib>
#include <fcntl.h>
#include <fmt/format.h>
#include <nlohmann/json.hpp>
#include <sys/stat.h>
#include <unistd.h>

namespace lcloud::box {

namespace fs = std::filesystem;

void make_agent_image(const fs::path& agent, const fs::path& tree, const fs::path& image) {
    copy_program(agent, tree, "/usr/bin/lcloud-agent", true);
    uintmax_t bytes = 0;
    for (const auto& entry : fs::recursive_directory_iterator(tree))
        if (entry.is_regular_file()) bytes += entry.file_size();
    const auto kib = bytes / 1024 * 5 / 4 + 8192;
    run_program_checked({"/sbin/mke2fs", "-q", "-F", "-t", "ext4", "-O", "^has_journal", "-L",
                         "lcloud-agent", "-d", tree.string(), image.string(),
                         std::to_string(kib) + "k"},
                        "making the agent's disk image with mke2fs");
}

fs::path agents_root() {
    return boxes_root().parent_path() / "agents";
}

namespace {

constexpr const char* temp_prefix = ".tmp-";

nlohmann::json stat_key(const struct stat& info) {
    return {{"dev", info.st_dev},
            {"ino", info.st_ino},
            {"size", info.st_size},
            {"mtime_ns", info.st_mtim.tv_sec * 1'000'000'000LL + info.st_mtim.tv_nsec},
            // The change time cannot be set back by a program that rewrites the file.
            {"ctime_ns", info.st_ctim.tv_sec * 1'000'000'000LL + info.st_ctim.tv_nsec}};
}

void sync_path(const fs::path& path, int flags) {
    Fd fd(::open(path.c_str(), flags | O_CLOEXEC));
    if (!fd || ::fsync(fd.get()) != 0) throw_errno("fsync", path.string());
}

// Removes the file unless released: the temporary image of a build that failed.
class RemoveUnlessReleased {
  public:
    explicit RemoveUnlessReleased(fs::path path) : path_(std::move(path)) {}
    ~RemoveUnlessReleased() {
        std::error_code ignored;
        if (!path_.empty()) fs::remove(path_, ignored);
    }
    RemoveUnlessReleased(const RemoveUnlessReleased&) = delete;
    RemoveUnlessReleased& operator=(const RemoveUnlessReleased&) = delete;
    void release() { path_.clear(); }

  private:
    fs::path path_;
};

runtime::image::FileLock lock_agents(const fs::path& root) {
    fs::create_directories(root);
    return runtime::image::FileLock(root / ".lock", runtime::image::FileLock::Mode::exclusive);
}

// With the lock held: no build is under way, so every temporary is a killed run's.
std::vector<fs::path> prune_locked(const fs::path& root, const InUse& in_use, std::size_t keep) {
    std::vector<fs::path> removed;
    std::vector<std::pair<fs::file_time_type, fs::path>> images;
    std::error_code error;
    for (const auto& entry : fs::directory_iterator(root, error)) {
        const auto name = entry.path().filename().string();
        if (name.starts_with(temp_prefix)) {
            fs::remove_all(entry.path(), error);
        } else if (name.ends_with(".img")) {
            images.emplace_back(fs::last_write_time(entry.path(), error), entry.path());
        }
    }
    state::remove_stale_temp_files(root);
    std::sort(images.begin(), images.end(), [](const auto& a, const auto& b) {
        return a.first > b.first; // newest first
    });
    for (std::size_t i = keep; i < images.size(); ++i) {
        if (in_use && in_use(images[i].second)) continue;
        if (fs::remove(images[i].second, error)) removed.push_back(images[i].second);
    }
    return removed;
}

} // namespace

std::string agent_digest(const fs::path& agent) {
    std::error_code error;
    const auto path = fs::canonical(agent, error);
    struct stat info {};
    if (error || ::stat(path.c_str(), &info) != 0)
        throw BoxError(fmt::format("{}: cannot be read", agent.string()));
    const auto cache_file = agents_root() / "digests.json";
    auto cache = nlohmann::json::parse(state::read_file(cache_file).value_or("{}"), nullptr, false);
    if (!cache.is_object()) cache = nlohmann::json::object();
    const auto key = stat_key(info);
    if (const auto found = cache.find(path.string());
        found != cache.end() && found->is_object() && found->value("stat", nlohmann::json()) == key)
        return found->value("sha256", "");
    const auto digest = file_digest(path);
    // Only programs that are still there are worth remembering.
    for (auto it = cache.begin(); it != cache.end();)
        it = fs::exists(it.key(), error) ? std::next(it) : cache.erase(it);
    cache[path.string()] = {{"stat", key}, {"sha256", digest}};
    try {
        fs::create_directories(agents_root());
        state::write_file_atomic(cache_file, cache.dump(2) + "\n", 0644,
                                 state::Durability::killed_writer);
    } catch (const std::exception&) {
        // A cache that cannot be written costs the next run a hash, nothing more.
    }
    return digest;
}

std::string agent_version_line(const fs::path& agent) {
    const auto result = run_program({agent.string(), "version"});
    const auto line = result.output.substr(0, result.output.find('\n'));
    if (result.exit_code != 0 || line.empty()) return "lcloud-agent (version unknown)";
    return line;
}

std::string describe_agent(const std::string& version_line, const std::string& digest) {
    std::string version = version_line;
    if (version.starts_with("lcloud-agent ")) version.erase(0, std::string("lcloud-agent ").size());
    if (version.empty()) version = "(version unknown)";
    const auto colon = digest.find(':');
    const auto hex = colon == std::string::npos ? digest : digest.substr(colon + 1);
    return hex.empty() ? version : fmt::format("{} sha256:{}", version, hex.substr(0, 12));
}

fs::path agent_image_path(const std::string& digest) {
    const auto colon = digest.find(':');
    const auto hex = colon == std::string::npos ? digest : digest.substr(colon + 1);
    if (hex.size() != 64 || !std::all_of(hex.begin(), hex.end(), [](char c) {
            return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
        }))
        throw BoxError(fmt::format("'{}' is not a sha256 digest of an agent", digest));
    return agents_root() / (hex + ".img");
}

fs::path ensure_agent_image(const fs::path& agent, const std::string& digest, const InUse& in_use,
                            std::size_t keep) {
    const auto image = agent_image_path(digest);
    const auto root = agents_root();
    const auto lock = lock_agents(root);
    if (!fs::exists(image)) {
        StagingDir tree("tmp-tree", root); // ".tmp-tree-XXXXXX"
        const auto temp = root / (temp_prefix + image.filename().string());
        RemoveUnlessReleased remove_temp(temp);
        make_agent_image(agent, tree.path(), temp);
        // The program may have been replaced while it was copied: the name must not lie.
        if (agent_digest(agent) != digest)
            throw BoxError(fmt::format("{} changed while its disk image was being made; run "
                                       "again",
                                       agent.string()));
        sync_path(temp, O_RDONLY);
        fs::rename(temp, image);
        remove_temp.release();
        sync_path(root, O_RDONLY | O_DIRECTORY);
    }
    // Last use, for pruning: the image a VM is about to boot from is the newest, and stays.
    fs::last_write_time(image, fs::file_time_type::clock::now());
    prune_locked(root, in_use, std::max<std::size_t>(keep, 1));
    return image;
}

std::vector<fs::path> prune_agent_images(const InUse& in_use, std::size_t keep) {
    const auto root = agents_root();
    if (!fs::exists(root)) return {};
    const auto lock = lock_agents(root);
    return prune_locked(root, in_use, keep);
}

} // namespace lcloud::box

#include "box/box_store.hpp"

#include "box/errors.hpp"
#include "runtime/image/sha256.hpp"
#include "state/atomic_file.hpp"

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <fmt/format.h>
#include <fstream>
#include <regex>
#include <sys/stat.h>

namespace lcloud::box {

namespace fs = std::filesystem;

std::optional<fs::path> Box::file(const std::string& role) const {
    const auto files = manifest.find("files");
    if (files == manifest.end() || !files->contains(role)) return std::nullopt;
    return dir / (*files)[role].at("path").get<std::string>();
}

fs::path boxes_root() {
    if (const char* data = std::getenv("XDG_DATA_HOME"); data && *data)
        return fs::path(data) / "lcloud" / "boxes";
    const char* home = std::getenv("HOME");
    return fs::path(home && *home ? home : "/root") / ".local" / "share" / "lcloud" / "boxes";
}

void check_box_name(const std::string& name) {
    static const std::regex valid(R"([A-Za-z0-9][A-Za-z0-9._-]*(/[A-Za-z0-9][A-Za-z0-9._-]*)?)");
    if (!std::regex_match(name, valid) || name.size() > 128)
        throw BoxError(fmt::format("'{}' is not a box name: expected letters, digits, '.', '_' or "
                                   "'-', with at most one '/' (like lcloud/base)",
                                   name));
}

namespace {

std::optional<Box> read_box(const fs::path& dir) {
    const auto text = state::read_file(dir / "manifest.json");
    if (!text) return std::nullopt;
    Box box;
    try {
        box.manifest = nlohmann::json::parse(*text);
        box.name = box.manifest.at("name").get<std::string>();
        box.version = box.manifest.at("version").get<std::string>();
        box.kind =
            box.manifest.value("kind", "initramfs") == "disk" ? BoxKind::disk : BoxKind::initramfs;
    } catch (const nlohmann::json::exception& error) {
        throw BoxError(fmt::format("{}: not a box manifest ({}); remove the directory or "
                                   "build the box again",
                                   (dir / "manifest.json").string(), error.what()));
    }
    box.dir = dir;
    return box;
}

} // namespace

std::string file_digest(const fs::path& path) {
    std::ifstream in(path, std::ios::binary);
    if (!in) throw BoxError(fmt::format("{}: cannot be read", path.string()));
    runtime::image::Sha256 hash;
    std::vector<char> buffer(1 << 20);
    while (in) {
        in.read(buffer.data(), static_cast<std::streamsize>(buffer.size()));
        hash.update(buffer.data(), static_cast<size_t>(in.gcount()));
    }
    return hash.digest();
}

std::vector<Box> list_boxes() {
    std::vector<Box> boxes;
    const auto root = boxes_root();
    std::error_code error;
    if (!fs::is_directory(root, error)) return boxes;
    // NAME is one or two levels deep, VERSION one below it.
    for (auto it = fs::recursive_directory_iterator(root, error);
         !error && it != fs::recursive_directory_iterator(); it.increment(error)) {
        if (it.depth() > 2) {
            it.disable_recursion_pending();
            continue;
        }
        if (it->is_directory() && it->path().filename().string()[0] != '.')
            if (auto box = read_box(it->path())) {
                boxes.push_back(std::move(*box));
                it.disable_recursion_pending();
            }
    }
    std::sort(boxes.begin(), boxes.end(), [](const Box& a, const Box& b) {
        return std::tie(a.name, a.version) < std::tie(b.name, b.version);
    });
    return boxes;
}

std::optional<Box> find_box(const std::string& name) {
    std::optional<Box> newest;
    for (auto& box : list_boxes())
        if (box.name == name) newest = std::move(box);
    return newest;
}

Box install_box(const fs::path& staged_dir, const std::string& name, const std::string& version) {
    const auto target = boxes_root() / name / version;
    fs::create_directories(target.parent_path());
    std::error_code error;
    fs::rename(staged_dir, target, error);
    if (error)
        throw BoxError(
            fmt::format("cannot move the box into {}: {}", target.string(), error.message()));
    auto box = read_box(target);
    if (!box) throw BoxError(fmt::format("{}: the box has no manifest.json", target.string()));
    return *box;
}

void remove_box(const Box& box) {
    fs::remove_all(box.dir);
    // The name's directory goes with its last version.
    std::error_code error;
    for (auto dir = box.dir.parent_path(); dir != boxes_root() && fs::is_empty(dir, error);
         dir = dir.parent_path())
        fs::remove(dir, error);
}

void describe_files(nlohmann::json& manifest, const fs::path& dir,
                    const std::vector<std::pair<std::string, std::string>>& role_paths) {
    auto& files = manifest["files"];
    files = nlohmann::json::object();
    std::string all;
    for (const auto& [role, path] : role_paths) {
        const auto digest = file_digest(dir / path);
        files[role] = {{"path", path}, {"size", fs::file_size(dir / path)}, {"sha256", digest}};
        all += role + " " + digest + "\n";
    }
    manifest["checksum"] = runtime::image::sha256_digest(all);
}

namespace {

// "path size mtime" of each of the box's files: what a verification saw.
std::string file_stamps(const Box& box) {
    std::string stamps;
    for (const auto& [role, entry] : box.manifest.at("files").items()) {
        const auto path = box.dir / entry.at("path").get<std::string>();
        struct stat info {};
        if (::stat(path.c_str(), &info) != 0) return "";
        stamps += fmt::format("{} {} {}.{:09}\n", path.filename().string(), info.st_size,
                              info.st_mtim.tv_sec, info.st_mtim.tv_nsec);
    }
    return stamps;
}

} // namespace

void verify_box(const Box& box) {
    // Hashing 140 MB costs 0.6 s at every first boot; files unchanged since the last check
    // (same size and modification time) are taken as checked.
    const auto stamps = file_stamps(box);
    if (!stamps.empty() && state::read_file(box.dir / ".verified") == stamps) return;
    for (const auto& [role, entry] : box.manifest.at("files").items()) {
        const auto path = box.dir / entry.at("path").get<std::string>();
        std::error_code error;
        if (!fs::exists(path, error))
            throw BoxError(fmt::format("box {} {}: {} is missing; run 'lcloud box remove {}' "
                                       "and build or add it again",
                                       box.name, box.version, path.string(), box.name));
        if (file_digest(path) != entry.at("sha256").get<std::string>())
            throw BoxError(fmt::format("box {} {}: {} is corrupt (its sha256 differs from the "
                                       "manifest); run 'lcloud box remove {}' and build or add "
                                       "it again",
                                       box.name, box.version, path.string(), box.name));
    }
    try {
        state::write_file_atomic(box.dir / ".verified", stamps, 0644,
                                 state::Durability::killed_writer);
    } catch (const Error&) {
        // A read-only box directory is checked every time instead.
    }
}

std::string new_version() {
    const auto now = std::chrono::system_clock::to_time_t(std::chrono::system_clock::now());
    std::tm utc{};
    ::gmtime_r(&now, &utc);
    return fmt::format("{:04}{:02}{:02}.{:02}{:02}{:02}", utc.tm_year + 1900, utc.tm_mon + 1,
                       utc.tm_mday, utc.tm_hour, utc.tm_min, utc.tm_sec);
}

} // namespace lcloud::box

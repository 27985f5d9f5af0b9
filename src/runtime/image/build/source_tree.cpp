#include "runtime/image/build/source_tree.hpp"

#include "common/error.hpp"
#include "common/strings.hpp"
#include "runtime/image/sha256.hpp"
#include "runtime/rootfs/safe_path.hpp"
#include "state/atomic_file.hpp"

#include <algorithm>
#include <cerrno>
#include <fcntl.h>
#include <memory>
#include <nlohmann/json.hpp>
#include <unistd.h>

namespace lcloud::runtime::image::build {

namespace fs = std::filesystem;

namespace {

// Small files are read again rather than remembered: the cache file stays small.
constexpr off_t remembered_size = 64 * 1024;
constexpr size_t remembered_count = 20000;

std::string sha256_of_fd(int fd, const std::string& path) {
    Sha256 hash;
    std::vector<char> buffer(256 * 1024);
    for (;;) {
        const ssize_t count = ::read(fd, buffer.data(), buffer.size());
        if (count < 0 && errno == EINTR) continue;
        if (count < 0) throw_errno("read", path);
        if (count == 0) break;
        hash.update(buffer.data(), static_cast<size_t>(count));
    }
    return hash.digest();
}

std::string type_of(mode_t mode) {
    if (S_ISDIR(mode)) return "dir";
    if (S_ISREG(mode)) return "file";
    if (S_ISLNK(mode)) return "link";
    if (S_ISFIFO(mode)) return "fifo";
    if (S_ISCHR(mode)) return "char";
    if (S_ISBLK(mode)) return "block";
    return "socket";
}

} // namespace

void FileHashes::load() {
    loaded_ = true;
    try {
        const auto text = state::read_file(file_);
        if (!text) return;
        const auto json = nlohmann::json::parse(*text);
        for (const auto& [key, value] : json.items())
            if (value.is_string()) known_[key] = value.get<std::string>();
    } catch (const std::exception&) {
        known_.clear(); // a damaged cache is only a slower build
    }
}

std::string FileHashes::digest(int fd, const struct stat& st, const std::string& path) {
    if (st.st_size < remembered_size) return sha256_of_fd(fd, path);
    if (!loaded_) load();
    const std::string key =
        path + "|" + std::to_string(st.st_dev) + ":" + std::to_string(st.st_ino) + ":" +
        std::to_string(st.st_size) + ":" + std::to_string(st.st_mtim.tv_sec) + "." +
        std::to_string(st.st_mtim.tv_nsec) + ":" + std::to_string(st.st_ctim.tv_sec) + "." +
        std::to_string(st.st_ctim.tv_nsec);
    const auto found = known_.find(key);
    if (found != known_.end()) return found->second;
    const std::string digest = sha256_of_fd(fd, path);
    if (known_.size() >= remembered_count) known_.clear();
    known_[key] = digest;
    changed_ = true;
    return digest;
}

void FileHashes::save() const noexcept {
    if (!changed_) return;
    try {
        state::write_file_atomic(file_, nlohmann::json(known_).dump(), 0600,
                                 state::Durability::killed_writer);
    } catch (const std::exception&) {
    }
}

SourceTree::SourceTree(const fs::path& root, IgnoreRules rules, std::string shown)
    : root_(::open(root.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC)), rules_(std::move(rules)),
      shown_(std::move(shown)) {
    if (!root_) throw_errno("open " + shown_, root.string());
}

std::vector<std::string> SourceTree::resolve(std::string_view source) const {
    const std::string path = clean_relative(source);
    if (has_glob(path)) {
        std::vector<std::string> matches = glob(path);
        if (matches.empty())
            throw InvalidValue("no file in " + shown_ + " matches '" + std::string(source) + "'" +
                               (rules_.empty() ? "" : " (after .dockerignore)"));
        return matches;
    }
    if (path.empty()) return {path};
    struct stat st {};
    const size_t slash = path.rfind('/');
    const Fd parent = rootfs::open_in_root_if_exists(
        root_.get(), slash == std::string::npos ? "." : path.substr(0, slash),
        O_PATH | O_DIRECTORY);
    const std::string name = slash == std::string::npos ? path : path.substr(slash + 1);
    if (!parent || ::fstatat(parent.get(), name.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0)
        throw InvalidValue("'" + std::string(source) + "' is not in " + shown_);
    // An excluded directory may still hold what an exception brings back; walk() sorts it out.
    if (rules_.excluded(path) && !(S_ISDIR(st.st_mode) && rules_.has_exceptions()))
        throw InvalidValue("'" + std::string(source) + "' is excluded from " + shown_ +
                           " by .dockerignore");
    return {path};
}

std::vector<std::string> SourceTree::glob(const std::string& pattern) const {
    const int depth = static_cast<int>(std::count(pattern.begin(), pattern.end(), '/')) + 1;
    std::vector<std::string> matches;
    walk_dir(
        root_.get(), "",
        [&](const SourceEntry& entry) {
            if (glob_match(pattern, entry.path, false)) matches.push_back(entry.path);
        },
        depth);
    return matches;
}

void SourceTree::walk(const std::string& path,
                      const std::function<void(const SourceEntry&)>& visit) const {
    SourceEntry entry;
    entry.path = path;
    Fd parent;
    if (path.empty()) {
        entry.parent_fd = root_.get();
        entry.name = ".";
    } else {
        const size_t slash = path.rfind('/');
        parent = rootfs::open_in_root(root_.get(),
                                      slash == std::string::npos ? "." : path.substr(0, slash),
                                      O_PATH | O_DIRECTORY);
        entry.parent_fd = parent.get();
        entry.name = slash == std::string::npos ? path : path.substr(slash + 1);
    }
    if (::fstatat(entry.parent_fd, entry.name.c_str(), &entry.st, AT_SYMLINK_NOFOLLOW) != 0)
        throw_errno("stat", shown_ + ": " + (path.empty() ? "." : path));
    visit(entry);
    if (!S_ISDIR(entry.st.st_mode)) return;
    Fd dir(::openat(entry.parent_fd, entry.name.c_str(),
                    O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
    if (!dir) throw_errno("open directory", shown_ + ": " + path);
    walk_dir(dir.get(), path, visit, -1);
}

void SourceTree::walk_dir(int dir_fd, const std::string& prefix,
                          const std::function<void(const SourceEntry&)>& visit,
                          int depth_left) const {
    if (depth_left == 0) return;
    for (const std::string& name : sorted_entries(dir_fd, shown_ + ": " + prefix)) {
        SourceEntry entry;
        entry.path = prefix.empty() ? name : prefix + "/" + name;
        entry.parent_fd = dir_fd;
        entry.name = name;
        if (::fstatat(dir_fd, name.c_str(), &entry.st, AT_SYMLINK_NOFOLLOW) != 0)
            throw_errno("stat", shown_ + ": " + entry.path);
        const bool excluded = rules_.excluded(entry.path);
        const bool is_dir = S_ISDIR(entry.st.st_mode);
        if (excluded && !(is_dir && rules_.has_exceptions())) continue;
        if (!excluded) visit(entry);
        if (!is_dir) continue;
        Fd dir(::openat(dir_fd, name.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
        if (!dir) throw_errno("open directory", shown_ + ": " + entry.path);
        walk_dir(dir.get(), entry.path, visit, depth_left - 1);
    }
}

std::string SourceTree::digest(const std::vector<std::string>& paths, FileHashes& hashes) const {
    Sha256 hash;
    for (const std::string& path : paths) {
        walk(path, [&](const SourceEntry& entry) {
            std::string line = entry.path + '\0' + type_of(entry.st.st_mode) + '\0' +
                               std::to_string(entry.st.st_mode & 07777) + '\0';
            if (S_ISREG(entry.st.st_mode)) {
                Fd file(::openat(entry.parent_fd, entry.name.c_str(),
                                 O_RDONLY | O_NOFOLLOW | O_CLOEXEC));
                if (!file) throw_errno("open", shown_ + ": " + entry.path);
                line += hashes.digest(file.get(), entry.st, entry.path);
            } else if (S_ISLNK(entry.st.st_mode)) {
                std::vector<char> target(static_cast<size_t>(entry.st.st_size) + 1);
                const ssize_t length =
                    ::readlinkat(entry.parent_fd, entry.name.c_str(), target.data(), target.size());
                if (length < 0) throw_errno("read symlink", shown_ + ": " + entry.path);
                line.append(target.data(), static_cast<size_t>(length));
            } else if (S_ISCHR(entry.st.st_mode) || S_ISBLK(entry.st.st_mode)) {
                line += std::to_string(entry.st.st_rdev);
            }
            line += '\n';
            hash.update(line);
        });
    }
    return hash.digest();
}

} // namespace lcloud::runtime::image::build

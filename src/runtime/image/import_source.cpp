#include "runtime/image/import_source.hpp"

#include "common/error.hpp"
#include "runtime/image/errors.hpp"
#include "runtime/image/layer_stream.hpp"
#include "runtime/image/sha256.hpp"
#include "runtime/rootfs/safe_path.hpp"

#include <algorithm>
#include <cerrno>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>
#include <vector>

namespace lcloud::runtime::image {

namespace fs = std::filesystem;

namespace {

// A path inside the archive, made lexically normal; ".." never climbs above its root. Only a
// lookup key: nothing is ever created by this name.
std::string normal_path(std::string_view path) {
    std::vector<std::string_view> parts;
    size_t start = 0;
    while (start <= path.size()) {
        size_t end = path.find('/', start);
        if (end == std::string_view::npos) end = path.size();
        const std::string_view part = path.substr(start, end - start);
        if (part == "..") {
            if (!parts.empty()) parts.pop_back();
        } else if (!part.empty() && part != ".") {
            parts.push_back(part);
        }
        start = end + 1;
    }
    std::string normal;
    for (const std::string_view part : parts) {
        if (!normal.empty()) normal += '/';
        normal += part;
    }
    return normal;
}

std::string read_fd(int fd, const std::string& what, uint64_t limit) {
    std::string content;
    char buffer[65536];
    for (;;) {
        const ssize_t count = ::read(fd, buffer, sizeof buffer);
        if (count < 0 && errno == EINTR) continue;
        if (count < 0) throw_errno("read", what);
        if (count == 0) return content;
        content.append(buffer, static_cast<size_t>(count));
        if (content.size() > limit)
            throw ImageError(what + " is larger than " + std::to_string(limit) +
                             " bytes; a manifest, index or config never is");
    }
}

void verify(const std::string& what, const std::optional<std::string>& expected,
            const std::string& actual) {
    if (expected && *expected != actual) throw DigestMismatch(what, *expected, actual);
}

void hash_zeros(Sha256& hash, uint64_t count) {
    static const std::vector<char> zeros(65536, 0);
    while (count > 0) {
        const size_t chunk = static_cast<size_t>(std::min<uint64_t>(count, zeros.size()));
        hash.update(zeros.data(), chunk);
        count -= chunk;
    }
}

struct Staged {
    fs::path file;
    std::string digest;
    uint64_t size = 0;
};

class ArchiveSource : public ImportSource {
  public:
    ArchiveSource(const fs::path& archive_path, const StoreFiles& files, uint64_t max_bytes)
        : ImportSource(archive_path.string()), files_(files), staging_(files.temp_path("import")),
          guard_(staging_) {
        if (::mkdir(staging_.c_str(), 0700) != 0) throw_errno("create", staging_.string());
        Fd fd(::open(archive_path.c_str(), O_RDONLY | O_CLOEXEC));
        if (!fd) throw_errno("open image archive", name());
        // LayerStream reads any tar, compressed or not; here its entries are an image's files.
        LayerStream stream(fd.get(), name(), max_bytes);
        while (archive_entry* entry = stream.next()) {
            const char* pathname = archive_entry_pathname(entry);
            if (!pathname) continue;
            const std::string path = normal_path(pathname);
            // docker save writes a layer shared by two images once, and links to it.
            if (const char* target = archive_entry_hardlink(entry)) {
                // A hardlink is the content its target has now, whatever replaces it later.
                if (const Staged* staged = lookup(target)) {
                    staged_[path] = *staged;
                    aliases_.erase(path);
                }
            } else if (archive_entry_filetype(entry) == AE_IFLNK) {
                const std::string target =
                    archive_entry_symlink(entry) ? archive_entry_symlink(entry) : "";
                const size_t slash = path.rfind('/');
                staged_.erase(path);
                aliases_[path] = normal_path((!target.empty() && target.front() == '/') ||
                                                     slash == std::string::npos
                                                 ? target
                                                 : path.substr(0, slash) + "/" + target);
            } else if (archive_entry_filetype(entry) == AE_IFREG) {
                stage(path, stream,
                      static_cast<uint64_t>(std::max<la_int64_t>(archive_entry_size(entry), 0)));
            }
        }
    }

    bool has(const std::string& path) const override { return lookup(path) != nullptr; }

    std::string read(const std::string& path, const std::optional<std::string>& expected,
                     uint64_t limit) override {
        const Staged& staged = find(path);
        const std::string what = name() + ": " + path;
        if (staged.size > limit)
            throw ImageError(what + " is larger than " + std::to_string(limit) +
                             " bytes; a manifest, index or config never is");
        verify(what, expected, staged.digest);
        Fd fd(::open(staged.file.c_str(), O_RDONLY | O_CLOEXEC));
        if (!fd) throw_errno("open", staged.file.string());
        return read_fd(fd.get(), what, limit);
    }

    StoredBlob store_blob(const std::string& path,
                          const std::optional<std::string>& expected) override {
        const Staged& staged = find(path);
        verify(name() + ": " + path, expected, staged.digest);
        if (!files_.has_blob(staged.digest)) {
            // Another path may hold the same content; link so that it stays readable.
            const fs::path copy = files_.temp_path("blob");
            if (::link(staged.file.c_str(), copy.c_str()) != 0) throw_errno("link", copy.string());
            RemoveGuard guard(copy);
            if (files_.durable()) {
                Fd fd(::open(copy.c_str(), O_RDONLY | O_CLOEXEC));
                if (!fd || ::fsync(fd.get()) != 0) throw_errno("fsync", copy.string());
            }
            files_.adopt_blob(copy, staged.digest);
        }
        return {staged.digest, staged.size};
    }

  private:
    const Staged* lookup(const std::string& path) const {
        std::string key = normal_path(path);
        // Links to links, but never forever.
        for (int hops = 0; hops < 16; ++hops) {
            const auto staged = staged_.find(key);
            if (staged != staged_.end()) return &staged->second;
            const auto alias = aliases_.find(key);
            if (alias == aliases_.end()) return nullptr;
            key = alias->second;
        }
        return nullptr;
    }

    const Staged& find(const std::string& path) const {
        const Staged* staged = lookup(path);
        if (!staged) missing(path);
        return *staged;
    }

    void stage(const std::string& path, LayerStream& stream, uint64_t declared_size) {
        Staged staged;
        staged.file = staging_ / std::to_string(staged_count_++);
        Fd out(::open(staged.file.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600));
        if (!out) throw_errno("create", staged.file.string());
        Sha256 hash;
        for (;;) {
            const void* block = nullptr;
            size_t size = 0;
            la_int64_t offset = 0;
            const int status = archive_read_data_block(stream.tar(), &block, &size, &offset);
            if (status == ARCHIVE_EOF) break;
            if (status != ARCHIVE_OK && status != ARCHIVE_WARN) stream.fail(path, "read data");
            // Holes read as zeros, and hash as zeros.
            hash_zeros(hash, static_cast<uint64_t>(offset) - staged.size);
            hash.update(block, size);
            for (size_t done = 0; done < size;) {
                const ssize_t written =
                    ::pwrite(out.get(), static_cast<const char*>(block) + done, size - done,
                             offset + static_cast<la_int64_t>(done));
                if (written < 0 && errno == EINTR) continue;
                if (written < 0) throw_errno("write", staged.file.string());
                done += static_cast<size_t>(written);
            }
            staged.size = static_cast<uint64_t>(offset) + size;
        }
        if (declared_size > staged.size) {
            hash_zeros(hash, declared_size - staged.size);
            staged.size = declared_size;
            if (::ftruncate(out.get(), static_cast<off_t>(declared_size)) != 0)
                throw_errno("truncate", staged.file.string());
        }
        staged.digest = hash.digest();
        aliases_.erase(path);
        staged_[path] = std::move(staged);
    }

    const StoreFiles& files_;
    fs::path staging_;
    RemoveGuard guard_;
    std::map<std::string, Staged> staged_;
    std::map<std::string, std::string> aliases_;
    uint64_t staged_count_ = 0;
};

class DirectorySource : public ImportSource {
  public:
    DirectorySource(const fs::path& dir, const StoreFiles& files)
        : ImportSource(dir.string()), files_(files),
          root_(::open(dir.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC)) {
        if (!root_) throw_errno("open image layout directory", name());
    }

    bool has(const std::string& path) const override {
        return static_cast<bool>(rootfs::open_in_root_if_exists(root_.get(), path, O_PATH));
    }

    std::string read(const std::string& path, const std::optional<std::string>& expected,
                     uint64_t limit) override {
        const std::string what = name() + ": " + path;
        const std::string content = read_fd(open(path).get(), what, limit);
        verify(what, expected, sha256_digest(content));
        return content;
    }

    StoredBlob store_blob(const std::string& path,
                          const std::optional<std::string>& expected) override {
        if (expected && files_.has_blob(*expected)) {
            // Stored, and verified, before: the layout's copy is not needed.
            struct stat st {};
            if (::fstat(open(path).get(), &st) == 0) return {*expected, uint64_t(st.st_size)};
        }
        return files_.put_blob(open(path).get(), expected, name() + ": " + path);
    }

  private:
    Fd open(const std::string& path) const {
        Fd fd = rootfs::open_in_root_if_exists(root_.get(), path, O_RDONLY);
        if (!fd) missing(path);
        return fd;
    }

    const StoreFiles& files_;
    Fd root_;
};

} // namespace

void ImportSource::missing(const std::string& path) const {
    throw ImageError(name_ + ": '" + path + "' is missing; the image archive is incomplete");
}

std::unique_ptr<ImportSource> open_archive_source(const fs::path& archive, const StoreFiles& files,
                                                  uint64_t max_bytes) {
    return std::make_unique<ArchiveSource>(archive, files, max_bytes);
}

std::unique_ptr<ImportSource> open_directory_source(const fs::path& dir, const StoreFiles& files) {
    return std::make_unique<DirectorySource>(dir, files);
}

} // namespace lcloud::runtime::image

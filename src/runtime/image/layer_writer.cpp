#include "runtime/image/layer_writer.hpp"

#include "common/error.hpp"
#include "common/fd.hpp"
#include "runtime/image/errors.hpp"
#include "runtime/image/extract.hpp"
#include "runtime/image/sha256.hpp"

#include <algorithm>
#include <cerrno>
#include <dirent.h>
#include <fcntl.h>
#include <map>
#include <memory>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <unistd.h>
#include <vector>

namespace lcloud::runtime::image {

namespace fs = std::filesystem;

namespace {

struct ArchiveWriteFree {
    void operator()(archive* handle) const { archive_write_free(handle); }
};
struct EntryFree {
    void operator()(archive_entry* entry) const { archive_entry_free(entry); }
};
struct DirClose {
    void operator()(DIR* dir) const { ::closedir(dir); }
};

class LayerWriter {
  public:
    LayerWriter(int out_fd, Compression compression, std::string root)
        : out_fd_(out_fd), root_(std::move(root)), writer_(archive_write_new()) {
        archive* w = writer_.get();
        if (!w) throw ImageError("write layer from " + root_ + ": out of memory");
        check(archive_write_set_format_pax_restricted(w), "set the tar format");
        if (compression == Compression::gzip) {
            check(archive_write_add_filter_gzip(w), "add gzip");
            // No time in the gzip header: the same tree gives the same blob.
            archive_write_set_filter_option(w, "gzip", "timestamp", nullptr);
        } else if (compression == Compression::zstd) {
            check(archive_write_add_filter_zstd(w), "add zstd");
        }
        if (compression != Compression::none) archive_write_set_bytes_in_last_block(w, 1);
        check(archive_write_open(w, this, nullptr, write_callback, nullptr), "open");
    }

    void add_tree(int dir_fd, const std::string& prefix) {
        for (const std::string& name : sorted_entries(dir_fd, shown(prefix))) {
            const std::string path = prefix.empty() ? name : prefix + "/" + name;
            struct stat st {};
            if (::fstatat(dir_fd, name.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0)
                throw_errno("stat", shown(path));
            add(dir_fd, name, path, prefix, st);
        }
    }

    WrittenLayer finish() {
        check(archive_write_close(writer_.get()), "finish");
        return {hash_.digest(), size_};
    }

  private:
    static la_ssize_t write_callback(archive*, void* self_pointer, const void* data, size_t size) {
        auto* self = static_cast<LayerWriter*>(self_pointer);
        self->hash_.update(data, size);
        auto bytes = static_cast<const char*>(data);
        for (size_t done = 0; done < size;) {
            const ssize_t count = ::write(self->out_fd_, bytes + done, size - done);
            if (count < 0 && errno == EINTR) continue;
            if (count < 0) return -1;
            done += static_cast<size_t>(count);
        }
        self->size_ += size;
        return static_cast<la_ssize_t>(size);
    }

    std::string shown(const std::string& path) const {
        return path.empty() ? root_ : root_ + "/" + path;
    }

    void check(int status, const std::string& action) {
        if (status >= ARCHIVE_WARN) return;
        const char* text = archive_error_string(writer_.get());
        throw ImageError("write layer from " + root_ + ": " + action + ": " +
                         (text ? text : "libarchive failed"));
    }

    std::unique_ptr<archive_entry, EntryFree> header(const std::string& path, const struct stat& st,
                                                     unsigned type) {
        std::unique_ptr<archive_entry, EntryFree> entry(archive_entry_new());
        archive_entry_set_pathname(entry.get(), path.c_str());
        archive_entry_set_filetype(entry.get(), type);
        archive_entry_set_perm(entry.get(), st.st_mode & 07777);
        archive_entry_set_uid(entry.get(), st.st_uid);
        archive_entry_set_gid(entry.get(), st.st_gid);
        archive_entry_set_mtime(entry.get(), st.st_mtim.tv_sec, st.st_mtim.tv_nsec);
        archive_entry_set_size(entry.get(), 0);
        return entry;
    }

    void write_header(archive_entry* entry, const std::string& path) {
        check(archive_write_header(writer_.get(), entry), "write entry " + path);
    }

    void add_marker(const std::string& path, const struct stat& st) {
        struct stat marker = st;
        marker.st_mode = S_IFREG | 0644;
        const auto entry = header(path, marker, AE_IFREG);
        write_header(entry.get(), path);
    }

    void add_xattrs(archive_entry* entry, int parent_fd, const std::string& name,
                    const std::string& path, bool* opaque) {
        // The parent is open and ours; l*xattr does not follow the last name.
        const std::string at = "/proc/self/fd/" + std::to_string(parent_fd) + "/" + name;
        std::vector<char> names(4096);
        ssize_t length = 0;
        while ((length = ::llistxattr(at.c_str(), names.data(), names.size())) < 0 &&
               errno == ERANGE)
            names.resize(names.size() * 4);
        if (length < 0) {
            if (errno == ENOTSUP) return;
            throw_errno("list xattrs of", shown(path));
        }
        for (size_t offset = 0; offset < static_cast<size_t>(length);) {
            const std::string key = names.data() + offset;
            offset += key.size() + 1;
            std::vector<char> value(256);
            ssize_t size = 0;
            while ((size = ::lgetxattr(at.c_str(), key.c_str(), value.data(), value.size())) < 0 &&
                   errno == ERANGE)
                value.resize(value.size() * 4);
            if (size < 0) {
                if (errno == ENODATA) continue;
                throw_errno("read xattr " + key + " of", shown(path));
            }
            if (key == opaque_xattr) {
                if (opaque) *opaque = size == 1 && value[0] == 'y';
                continue;
            }
            // overlayfs's bookkeeping (origin, impure) means nothing in a layer.
            if (key.rfind("trusted.overlay.", 0) == 0) continue;
            archive_entry_xattr_add_entry(entry, key.c_str(), value.data(),
                                          static_cast<size_t>(size));
        }
    }

    void add(int parent_fd, const std::string& name, const std::string& path,
             const std::string& prefix, const struct stat& st) {
        if (S_ISCHR(st.st_mode) && st.st_rdev == makedev(0, 0)) {
            add_marker((prefix.empty() ? "" : prefix + "/") + std::string(whiteout_prefix) + name,
                       st);
            return;
        }
        if (S_ISSOCK(st.st_mode)) return; // a layer cannot hold one; Docker drops them too
        if (S_ISDIR(st.st_mode)) return add_directory(parent_fd, name, path, st);
        if (S_ISREG(st.st_mode) && st.st_nlink > 1) {
            const auto [known, inserted] =
                links_.emplace(std::make_pair(st.st_dev, st.st_ino), path);
            if (!inserted) {
                auto entry = header(path, st, AE_IFREG);
                archive_entry_set_hardlink(entry.get(), known->second.c_str());
                write_header(entry.get(), path);
                return;
            }
        }
        unsigned type = AE_IFREG;
        if (S_ISLNK(st.st_mode)) type = AE_IFLNK;
        if (S_ISCHR(st.st_mode)) type = AE_IFCHR;
        if (S_ISBLK(st.st_mode)) type = AE_IFBLK;
        if (S_ISFIFO(st.st_mode)) type = AE_IFIFO;
        auto entry = header(path, st, type);
        add_xattrs(entry.get(), parent_fd, name, path, nullptr);
        if (type == AE_IFLNK) {
            std::vector<char> target(static_cast<size_t>(st.st_size) + 2);
            const ssize_t length =
                ::readlinkat(parent_fd, name.c_str(), target.data(), target.size() - 1);
            if (length < 0) throw_errno("read symlink", shown(path));
            target[static_cast<size_t>(length)] = '\0';
            archive_entry_set_symlink(entry.get(), target.data());
        } else if (type == AE_IFCHR || type == AE_IFBLK) {
            archive_entry_set_rdevmajor(entry.get(), major(st.st_rdev));
            archive_entry_set_rdevminor(entry.get(), minor(st.st_rdev));
        }
        if (type != AE_IFREG) return write_header(entry.get(), path);
        Fd file(::openat(parent_fd, name.c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC));
        if (!file) throw_errno("open", shown(path));
        archive_entry_set_size(entry.get(), st.st_size);
        write_header(entry.get(), path);
        copy_data(file.get(), static_cast<uint64_t>(st.st_size), path);
    }

    void copy_data(int fd, uint64_t size, const std::string& path) {
        std::vector<char> buffer(256 * 1024);
        uint64_t left = size;
        while (left > 0) {
            const ssize_t count = ::read(
                fd, buffer.data(), static_cast<size_t>(std::min<uint64_t>(left, buffer.size())));
            if (count < 0 && errno == EINTR) continue;
            if (count < 0) throw_errno("read", shown(path));
            if (count == 0)
                throw ImageError("write layer from " + root_ + ": " + path +
                                 " shrank while it was read; nothing may change the tree then");
            if (archive_write_data(writer_.get(), buffer.data(), static_cast<size_t>(count)) < 0)
                check(ARCHIVE_FATAL, "write data of " + path);
            left -= static_cast<uint64_t>(count);
        }
    }

    void add_directory(int parent_fd, const std::string& name, const std::string& path,
                       const struct stat& st) {
        Fd dir(::openat(parent_fd, name.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
        if (!dir) throw_errno("open directory", shown(path));
        auto entry = header(path, st, AE_IFDIR);
        bool opaque = false;
        add_xattrs(entry.get(), parent_fd, name, path, &opaque);
        write_header(entry.get(), path);
        if (opaque) add_marker(path + "/" + std::string(opaque_marker), st);
        add_tree(dir.get(), path);
    }

    int out_fd_;
    std::string root_;
    std::unique_ptr<archive, ArchiveWriteFree> writer_;
    Sha256 hash_;
    uint64_t size_ = 0;
    std::map<std::pair<dev_t, ino_t>, std::string> links_;
};

} // namespace

// The names in a directory, sorted: the tar's order does not depend on the file system's.
std::vector<std::string> sorted_entries(int dir_fd, const std::string& shown) {
    const int copy = ::fcntl(dir_fd, F_DUPFD_CLOEXEC, 0);
    if (copy < 0) throw_errno("duplicate directory fd of", shown);
    std::unique_ptr<DIR, DirClose> dir(::fdopendir(copy));
    if (!dir) {
        ::close(copy);
        throw_errno("read directory", shown);
    }
    std::vector<std::string> names;
    errno = 0;
    while (const dirent* entry = ::readdir(dir.get())) {
        const std::string name = entry->d_name;
        if (name != "." && name != "..") names.push_back(name);
        errno = 0;
    }
    if (errno != 0) throw_errno("read directory", shown);
    std::sort(names.begin(), names.end());
    return names;
}

WrittenLayer write_layer(const fs::path& dir, int out_fd, Compression compression) {
    if (compression == Compression::other)
        throw ImageError("write layer from " + dir.string() +
                         ": a layer is plain tar or tar with gzip or zstd");
    Fd root(::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
    if (!root) throw_errno("open layer directory", dir.string());
    LayerWriter writer(out_fd, compression, dir.string());
    writer.add_tree(root.get(), "");
    return writer.finish();
}

bool directory_is_empty(const fs::path& dir) {
    Fd root(::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
    if (!root) throw_errno("open directory", dir.string());
    return sorted_entries(root.get(), dir.string()).empty();
}

} // namespace lcloud::runtime::image

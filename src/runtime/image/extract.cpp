#include "runtime/image/extract.hpp"

#include "common/error.hpp"
#include "common/fd.hpp"
#include "runtime/image/errors.hpp"
#include "runtime/image/layer_dir.hpp"

#include <cerrno>
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <system_error>
#include <unistd.h>

namespace lcloud::runtime::image {

namespace fs = std::filesystem;

namespace {

// Removes the half-made layer unless extraction finished.
struct RemoveOnFailure {
    fs::path path;
    bool armed = true;
    ~RemoveOnFailure() {
        std::error_code ignored;
        if (armed) fs::remove_all(path, ignored);
    }
};

bool starts_with(std::string_view text, std::string_view prefix) {
    return text.substr(0, prefix.size()) == prefix;
}

struct Times {
    timespec value[2];
};

Times times_of(archive_entry* entry) {
    Times times{};
    times.value[1] = archive_entry_mtime_is_set(entry)
                         ? timespec{archive_entry_mtime(entry), archive_entry_mtime_nsec(entry)}
                         : timespec{0, UTIME_OMIT};
    times.value[0] = archive_entry_atime_is_set(entry)
                         ? timespec{archive_entry_atime(entry), archive_entry_atime_nsec(entry)}
                         : times.value[1];
    return times;
}

class Extractor {
  public:
    Extractor(int root_fd, LayerStream& stream, const ExtractLimits& limits)
        : root_fd_(root_fd), layer_(root_fd), stream_(stream), limits_(limits) {}

    void add(archive_entry* entry);
    void finish();

  private:
    void add_whiteout(const std::vector<std::string>& components);
    void add_hardlink(archive_entry* entry, const std::vector<std::string>& components, int parent);
    void add_regular(archive_entry* entry, int parent, const std::string& name);
    void add_directory(archive_entry* entry, const std::vector<std::string>& components,
                       int parent);
    void add_node(archive_entry* entry, int parent, const std::string& name);
    // Makes room for a new entry: an existing non-directory is replaced, as tar does; an
    // existing directory is kept for a directory and refused for anything else. True when a
    // directory is already there.
    bool make_room(int parent, const std::string& name, bool for_directory);
    void set_owner_mode_xattrs(archive_entry* entry, int fd);
    void set_xattrs_at(archive_entry* entry, int parent, const std::string& name);
    // `set(key, value, size)` sets one xattr, returning what the system call returned.
    template <typename Set> void set_xattrs(archive_entry* entry, Set set);
    [[noreturn]] void unsafe(const std::string& problem) const {
        throw UnsafeArchive(entry_name_, problem);
    }
    [[noreturn]] void system_failure(const std::string& operation) const {
        throw_errno(operation, "layer entry '" + entry_name_ + "'");
    }

    int root_fd_;
    LayerDir layer_;
    LayerStream& stream_;
    const ExtractLimits& limits_;
    std::string entry_name_;
    uint64_t entries_ = 0;
    uint64_t declared_bytes_ = 0;
    std::vector<std::pair<std::vector<std::string>, Times>> directory_times_;
};

void Extractor::add(archive_entry* entry) {
    const char* pathname = archive_entry_pathname(entry);
    if (!pathname) pathname = archive_entry_pathname_utf8(entry);
    if (!pathname) throw UnsafeArchive("?", "an entry without a readable name");
    entry_name_ = pathname;
    if (++entries_ > limits_.max_entries)
        unsafe("the layer has more than " + std::to_string(limits_.max_entries) +
               " entries, the limit");
    const auto size = static_cast<uint64_t>(std::max<la_int64_t>(archive_entry_size(entry), 0));
    declared_bytes_ += size;
    if (size > limits_.max_bytes || declared_bytes_ > limits_.max_bytes)
        unsafe("declares " + std::to_string(size) + " bytes, which takes the layer past " +
               std::to_string(limits_.max_bytes) + " bytes, the limit");

    const std::vector<std::string> components = entry_components(entry_name_, pathname);
    const bool is_hardlink = archive_entry_hardlink(entry) != nullptr;
    if (components.empty()) {
        // The layer root: only its attributes can come from the archive.
        if (is_hardlink || archive_entry_filetype(entry) != AE_IFDIR)
            unsafe("the layer root can only be a directory");
        set_owner_mode_xattrs(entry, root_fd_);
        directory_times_.emplace_back(components, times_of(entry));
        return;
    }
    for (size_t i = 0; i + 1 < components.size(); ++i)
        if (starts_with(components[i], whiteout_prefix))
            unsafe("a whiteout name ('" + components[i] + "') cannot be a directory");
    if (starts_with(components.back(), whiteout_prefix)) return add_whiteout(components);

    const int parent = layer_.parent_of(components, entry_name_);
    const std::string& name = components.back();
    if (is_hardlink) return add_hardlink(entry, components, parent);
    switch (archive_entry_filetype(entry)) {
    case AE_IFREG:
        return add_regular(entry, parent, name);
    case AE_IFDIR:
        return add_directory(entry, components, parent);
    case AE_IFLNK:
    case AE_IFCHR:
    case AE_IFBLK:
    case AE_IFIFO:
        return add_node(entry, parent, name);
    default:
        unsafe("a file type a layer cannot hold (sockets and unknown types are refused)");
    }
}

void Extractor::add_whiteout(const std::vector<std::string>& components) {
    const std::string& marker = components.back();
    const int parent = layer_.parent_of(components, entry_name_);
    if (marker == opaque_marker) {
        if (::fsetxattr(parent, opaque_xattr, "y", 1, 0) != 0)
            system_failure(std::string("set ") + opaque_xattr + " for");
        return;
    }
    // Other ".wh..wh." names are aufs bookkeeping, meaningless on overlayfs.
    if (starts_with(marker, ".wh..wh.")) return;
    const std::string hidden = marker.substr(whiteout_prefix.size());
    if (hidden.empty() || hidden == "." || hidden == "..")
        unsafe("a whiteout must name a file of the parent layer; '" + hidden + "' is none");
    struct stat st {};
    if (::fstatat(parent, hidden.c_str(), &st, AT_SYMLINK_NOFOLLOW) == 0)
        unsafe("whites out '" + hidden + "', which this same layer also adds");
    if (::mknodat(parent, hidden.c_str(), S_IFCHR | 0000, makedev(0, 0)) != 0)
        system_failure("create the overlayfs whiteout for");
}

bool Extractor::make_room(int parent, const std::string& name, bool for_directory) {
    struct stat st {};
    if (::fstatat(parent, name.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0) {
        if (errno == ENOENT) return false;
        system_failure("stat");
    }
    if (S_ISDIR(st.st_mode)) {
        if (for_directory) return true;
        unsafe("would replace a directory of the same layer with another file type; refused");
    }
    if (::unlinkat(parent, name.c_str(), 0) != 0) system_failure("replace");
    return false;
}

void Extractor::add_hardlink(archive_entry* entry, const std::vector<std::string>& components,
                             int parent) {
    const std::string target = archive_entry_hardlink(entry);
    const auto target_components = entry_components(entry_name_, target);
    if (target_components.empty()) unsafe("a hardlink to the layer root");
    if (target_components == components) unsafe("a hardlink to itself");
    Fd target_parent = layer_.existing_parent_of(target_components, entry_name_);
    struct stat st {};
    if (!target_parent || ::fstatat(target_parent.get(), target_components.back().c_str(), &st,
                                    AT_SYMLINK_NOFOLLOW) != 0)
        unsafe("a hardlink to '" + target + "', which is not in the layer (before it)");
    if (S_ISDIR(st.st_mode)) unsafe("a hardlink to the directory '" + target + "'");
    make_room(parent, components.back(), false);
    // Flags 0: a link to a symlink links the symlink itself, never what it points to.
    if (::linkat(target_parent.get(), target_components.back().c_str(), parent,
                 components.back().c_str(), 0) != 0)
        system_failure("hardlink '" + target + "' as");
}

void Extractor::add_regular(archive_entry* entry, int parent, const std::string& name) {
    make_room(parent, name, false);
    Fd file(
        ::openat(parent, name.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600));
    if (!file) system_failure("create");
    for (;;) {
        const void* block = nullptr;
        size_t size = 0;
        la_int64_t offset = 0;
        const int status = archive_read_data_block(stream_.tar(), &block, &size, &offset);
        if (status == ARCHIVE_EOF) break;
        if (status != ARCHIVE_OK && status != ARCHIVE_WARN) stream_.fail(entry_name_, "read data");
        auto bytes = static_cast<const char*>(block);
        while (size > 0) {
            const ssize_t written = ::pwrite(file.get(), bytes, size, offset);
            if (written < 0 && errno == EINTR) continue;
            if (written <= 0) system_failure("write");
            bytes += written;
            size -= static_cast<size_t>(written);
            offset += written;
        }
    }
    // Sparse files end in a hole that no block covers.
    if (::ftruncate(file.get(), archive_entry_size(entry)) != 0) system_failure("truncate");
    set_owner_mode_xattrs(entry, file.get());
    const Times times = times_of(entry);
    if (::futimens(file.get(), times.value) != 0) system_failure("set times of");
}

void Extractor::add_directory(archive_entry* entry, const std::vector<std::string>& components,
                              int parent) {
    const std::string& name = components.back();
    if (!make_room(parent, name, true) && ::mkdirat(parent, name.c_str(), 0700) != 0)
        system_failure("create directory");
    Fd dir(::openat(parent, name.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
    if (!dir) system_failure("open directory");
    set_owner_mode_xattrs(entry, dir.get());
    // Entries written into it later would change its mtime: set at the end.
    directory_times_.emplace_back(components, times_of(entry));
}

void Extractor::add_node(archive_entry* entry, int parent, const std::string& name) {
    make_room(parent, name, false);
    const auto type = archive_entry_filetype(entry);
    if (type == AE_IFLNK) {
        const char* target = archive_entry_symlink(entry);
        if (!target) target = archive_entry_symlink_utf8(entry);
        if (!target || !*target) unsafe("a symlink without a target");
        // The target is data: stored as it is, never resolved here.
        if (::symlinkat(target, parent, name.c_str()) != 0) system_failure("create symlink");
    } else {
        const mode_t kind = type == AE_IFCHR ? S_IFCHR : type == AE_IFBLK ? S_IFBLK : S_IFIFO;
        const dev_t device = type == AE_IFIFO ? 0
                                              : makedev(archive_entry_rdevmajor(entry),
                                                        archive_entry_rdevminor(entry));
        if (::mknodat(parent, name.c_str(), kind | 0600, device) != 0)
            system_failure("create device node");
    }
    if (::fchownat(parent, name.c_str(), static_cast<uid_t>(archive_entry_uid(entry)),
                   static_cast<gid_t>(archive_entry_gid(entry)), AT_SYMLINK_NOFOLLOW) != 0)
        system_failure("chown");
    // A node we just made in our own directory: fchmodat cannot be led elsewhere.
    if (type != AE_IFLNK &&
        ::fchmodat(parent, name.c_str(), archive_entry_perm(entry) & 07777, 0) != 0)
        system_failure("chmod");
    set_xattrs_at(entry, parent, name);
    const Times times = times_of(entry);
    if (::utimensat(parent, name.c_str(), times.value, AT_SYMLINK_NOFOLLOW) != 0)
        system_failure("set times of");
}

template <typename Set> void Extractor::set_xattrs(archive_entry* entry, Set set) {
    const char* key = nullptr;
    const void* value = nullptr;
    size_t size = 0;
    archive_entry_xattr_reset(entry);
    while (archive_entry_xattr_next(entry, &key, &value, &size) == ARCHIVE_OK) {
        const std::string_view name = key;
        // overlayfs's own attributes would change how it reads the layer (redirects, metacopy).
        if (starts_with(name, "trusted.overlay.") || starts_with(name, "user.overlay.")) continue;
        if (set(key, value, size) == 0) continue;
        // user.* is refused on symlinks and devices; Docker drops it there too.
        if (starts_with(name, "user.") && (errno == EPERM || errno == ENOTSUP)) continue;
        system_failure("set xattr " + std::string(name) + " of");
    }
}

void Extractor::set_owner_mode_xattrs(archive_entry* entry, int fd) {
    // chown clears setuid bits and file capabilities: mode and xattrs come after it.
    if (::fchown(fd, static_cast<uid_t>(archive_entry_uid(entry)),
                 static_cast<gid_t>(archive_entry_gid(entry))) != 0)
        system_failure("chown");
    if (::fchmod(fd, archive_entry_perm(entry) & 07777) != 0) system_failure("chmod");
    set_xattrs(entry, [fd](const char* key, const void* value, size_t size) {
        return ::fsetxattr(fd, key, value, size, 0);
    });
}

void Extractor::set_xattrs_at(archive_entry* entry, int parent, const std::string& name) {
    // The parent is a real directory of the layer, and lsetxattr does not follow the last name.
    const std::string path = "/proc/self/fd/" + std::to_string(parent) + "/" + name;
    set_xattrs(entry, [&path](const char* key, const void* value, size_t size) {
        return ::lsetxattr(path.c_str(), key, value, size, 0);
    });
}

void Extractor::finish() {
    for (auto it = directory_times_.rbegin(); it != directory_times_.rend(); ++it) {
        entry_name_ = it->first.empty() ? "." : join_components(it->first, it->first.size());
        Fd dir = layer_.existing_dir(it->first, entry_name_);
        if (!dir) continue;
        if (::futimens(dir.get(), it->second.value) != 0) system_failure("set times of");
    }
}

} // namespace

LayerDigests extract_layer(int fd, const fs::path& dest, std::string_view name,
                           const ExtractLimits& limits) {
    if (::mkdir(dest.c_str(), 0755) != 0) throw_errno("create layer directory", dest.string());
    RemoveOnFailure cleanup{dest};
    Fd root(::open(dest.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
    if (!root) throw_errno("open layer directory", dest.string());
    LayerStream stream(fd, std::string(name), limits.max_bytes);
    Extractor extractor(root.get(), stream, limits);
    while (archive_entry* entry = stream.next())
        extractor.add(entry);
    extractor.finish();
    LayerDigests digests = stream.finish();
    cleanup.armed = false;
    return digests;
}

} // namespace lcloud::runtime::image

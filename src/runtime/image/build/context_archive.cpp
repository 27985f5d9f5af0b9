#include "runtime/image/build/context_archive.hpp"

#include "common/error.hpp"
#include "common/fd.hpp"
#include "runtime/image/build/source_tree.hpp"
#include "runtime/image/errors.hpp"
#include "runtime/image/sha256.hpp"

#include <archive.h>
#include <archive_entry.h>
#include <cerrno>
#include <fcntl.h>
#include <memory>
#include <sys/stat.h>
#include <unistd.h>

namespace lcloud::runtime::image::build {

namespace fs = std::filesystem;

namespace {

struct ArchiveWriteFree {
    void operator()(archive* handle) const { archive_write_free(handle); }
};
struct EntryFree {
    void operator()(archive_entry* entry) const { archive_entry_free(entry); }
};

// Where libarchive's output goes: the fd, and the digest of every byte.
struct Sink {
    int fd;
    Sha256 hash;
    uint64_t size = 0;
};

la_ssize_t write_sink(archive*, void* data, const void* buffer, size_t length) {
    auto* sink = static_cast<Sink*>(data);
    const auto* bytes = static_cast<const char*>(buffer);
    for (size_t done = 0; done < length;) {
        const ssize_t written = ::write(sink->fd, bytes + done, length - done);
        if (written < 0 && errno == EINTR) continue;
        if (written <= 0) return -1;
        done += static_cast<size_t>(written);
    }
    sink->hash.update(buffer, length);
    sink->size += length;
    return static_cast<la_ssize_t>(length);
}

class TarWriter {
  public:
    TarWriter(Sink& sink, std::string shown)
        : shown_(std::move(shown)), writer_(archive_write_new()) {
        if (!writer_) throw ImageError("pack " + shown_ + ": out of memory");
        check(archive_write_set_format_pax_restricted(writer_.get()), "set the tar format");
        // No padding to 10 KiB blocks: the size is what was written.
        check(archive_write_set_bytes_in_last_block(writer_.get(), 1), "set the block size");
        check(archive_write_open(writer_.get(), &sink, nullptr, write_sink, nullptr), "open");
    }

    // An entry from what fstatat said; `fd` (regular files) gives the data.
    void entry(const std::string& path, const struct stat& st, int fd, const std::string& link) {
        std::unique_ptr<archive_entry, EntryFree> entry(archive_entry_new());
        archive_entry_set_pathname(entry.get(), path.c_str());
        archive_entry_set_mode(entry.get(), st.st_mode);
        archive_entry_set_uid(entry.get(), 0);
        archive_entry_set_gid(entry.get(), 0);
        archive_entry_set_mtime(entry.get(), st.st_mtim.tv_sec, st.st_mtim.tv_nsec);
        if (S_ISLNK(st.st_mode)) archive_entry_set_symlink(entry.get(), link.c_str());
        const bool regular = S_ISREG(st.st_mode);
        archive_entry_set_size(entry.get(), regular ? st.st_size : 0);
        check(archive_write_header(writer_.get(), entry.get()), "write " + path + " to");
        if (!regular) return;
        char buffer[65536];
        for (off_t left = st.st_size; left > 0;) {
            const ssize_t got = ::read(fd, buffer, sizeof buffer);
            if (got < 0 && errno == EINTR) continue;
            if (got < 0) throw_errno("read", shown_ + ": " + path);
            if (got == 0) throw ImageError(shown_ + ": " + path + " shrank while it was packed");
            const size_t size = static_cast<size_t>(std::min<off_t>(got, left));
            if (archive_write_data(writer_.get(), buffer, size) != static_cast<la_ssize_t>(size))
                check(ARCHIVE_FATAL, "write " + path + " to");
            left -= static_cast<off_t>(size);
        }
    }

    void close() { check(archive_write_close(writer_.get()), "finish"); }

  private:
    void check(int status, const std::string& action) {
        if (status >= ARCHIVE_WARN) return;
        const char* text = archive_error_string(writer_.get());
        throw ImageError(action + " the packed " + shown_ + ": " +
                         (text ? text : "libarchive failed"));
    }

    std::string shown_;
    std::unique_ptr<archive, ArchiveWriteFree> writer_;
};

} // namespace

PackedContext pack_context(const fs::path& context, const fs::path& containerfile, int out_fd) {
    const std::string shown = "the build context " + context.string();
    Sink sink{out_fd, {}, 0};
    TarWriter tar(sink, shown);
    PackedContext packed;
    {
        const Fd file(::open(containerfile.c_str(), O_RDONLY | O_CLOEXEC));
        struct stat st {};
        if (!file || ::fstat(file.get(), &st) != 0) throw_errno("open", containerfile.string());
        if (!S_ISREG(st.st_mode))
            throw ImageError(containerfile.string() + " is not a file (expected a Containerfile)");
        tar.entry(packed_containerfile, st, file.get(), "");
    }
    // The rules as the builder will read them; .dockerignore itself always goes along.
    auto rules = IgnoreRules::load(context);
    const SourceTree tree(context, rules, shown);
    const std::string prefix = packed_context_dir;
    tree.walk("", [&](const SourceEntry& entry) {
        const std::string path = entry.path.empty() ? prefix : prefix + "/" + entry.path;
        const auto& st = entry.st;
        if (S_ISDIR(st.st_mode)) {
            tar.entry(path, st, -1, "");
        } else if (S_ISREG(st.st_mode)) {
            const Fd file(
                ::openat(entry.parent_fd, entry.name.c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC));
            if (!file) throw_errno("open", shown + ": " + entry.path);
            tar.entry(path, st, file.get(), "");
            ++packed.files;
        } else if (S_ISLNK(st.st_mode)) {
            std::string link(static_cast<size_t>(st.st_size) + 1, '\0');
            const ssize_t length =
                ::readlinkat(entry.parent_fd, entry.name.c_str(), link.data(), link.size());
            if (length < 0) throw_errno("read the link", shown + ": " + entry.path);
            link.resize(static_cast<size_t>(length));
            tar.entry(path, st, -1, link);
        }
        // Sockets, fifos and devices have no place in an image built from a context.
    });
    if (rules.excluded(".dockerignore")) {
        const Fd file(::open((context / ".dockerignore").c_str(), O_RDONLY | O_CLOEXEC));
        struct stat st {};
        if (file && ::fstat(file.get(), &st) == 0 && S_ISREG(st.st_mode)) {
            tar.entry(prefix + "/.dockerignore", st, file.get(), "");
            ++packed.files;
        }
    }
    tar.close();
    packed.digest = sink.hash.digest();
    packed.size = sink.size;
    return packed;
}

} // namespace lcloud::runtime::image::build

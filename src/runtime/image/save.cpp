// Store::save: an image as an OCI image layout in a tar, the format of skopeo's oci-archive:.

#include "common/error.hpp"
#include "runtime/image/errors.hpp"
#include "runtime/image/file_lock.hpp"
#include "runtime/image/sha256.hpp"
#include "runtime/image/store.hpp"

#include <archive.h>
#include <archive_entry.h>
#include <cerrno>
#include <fcntl.h>
#include <memory>
#include <nlohmann/json.hpp>
#include <set>
#include <sys/stat.h>
#include <unistd.h>

namespace lcloud::runtime::image {

namespace fs = std::filesystem;
using Json = nlohmann::json;

namespace {

struct ArchiveWriteFree {
    void operator()(archive* handle) const { archive_write_free(handle); }
};
struct EntryFree {
    void operator()(archive_entry* entry) const { archive_entry_free(entry); }
};

class LayoutWriter {
  public:
    LayoutWriter(int fd, std::string output)
        : output_(std::move(output)), writer_(archive_write_new()) {
        if (!writer_) throw ImageError("write " + output_ + ": out of memory");
        check(archive_write_set_format_pax_restricted(writer_.get()), "set tar format");
        check(archive_write_open_fd(writer_.get(), fd), "open");
    }

    void directory(const std::string& path) { header(path, AE_IFDIR, 0755, 0); }

    void file(const std::string& path, std::string_view content) {
        header(path, AE_IFREG, 0644, content.size());
        data(content.data(), content.size());
    }

    void file_from(const std::string& path, int fd, uint64_t size) {
        header(path, AE_IFREG, 0644, size);
        char buffer[65536];
        uint64_t copied = 0;
        while (copied < size) {
            const ssize_t count = ::read(fd, buffer, sizeof buffer);
            if (count < 0 && errno == EINTR) continue;
            if (count < 0) throw_errno("read blob for", path);
            if (count == 0) throw ImageError("blob " + path + " shrank while it was saved");
            data(buffer, static_cast<size_t>(count));
            copied += static_cast<uint64_t>(count);
        }
    }

    void close() { check(archive_write_close(writer_.get()), "finish"); }

  private:
    void header(const std::string& path, unsigned type, unsigned perm, uint64_t size) {
        std::unique_ptr<archive_entry, EntryFree> entry(archive_entry_new());
        archive_entry_set_pathname(entry.get(), path.c_str());
        archive_entry_set_filetype(entry.get(), type);
        archive_entry_set_perm(entry.get(), perm);
        archive_entry_set_size(entry.get(), static_cast<la_int64_t>(size));
        // Fixed times: saving an image twice gives the same archive.
        archive_entry_set_mtime(entry.get(), 0, 0);
        check(archive_write_header(writer_.get(), entry.get()), "write " + path + " to");
    }

    void data(const void* bytes, size_t size) {
        if (archive_write_data(writer_.get(), bytes, size) != static_cast<la_ssize_t>(size))
            check(ARCHIVE_FATAL, "write data to");
    }

    void check(int status, const std::string& action) {
        if (status >= ARCHIVE_WARN) return;
        const char* text = archive_error_string(writer_.get());
        throw ImageError(action + " " + output_ + ": " + (text ? text : "libarchive failed"));
    }

    std::string output_;
    std::unique_ptr<archive, ArchiveWriteFree> writer_;
};

} // namespace

void Store::save(std::string_view reference, const fs::path& output) const {
    const FileLock lock(files_.store_lock_path(), FileLock::Mode::shared);
    const Resolved resolved = resolve(reference);
    const ImageDetails image = details(resolved.manifest_digest, load_index(files_));
    const Reference name = resolved.tag ? parse_reference(*resolved.tag)
                           : image.references.empty()
                               ? Reference{"image", digest_hex(image.id, "id").substr(0, 12)}
                               : image.references.front();

    // Written beside the output and renamed: a failed save leaves no half archive.
    const fs::path temp = output.parent_path() /
                          ("." + output.filename().string() + ".tmp." + std::to_string(::getpid()));
    RemoveGuard guard(temp);
    Fd fd(::open(temp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644));
    if (!fd) throw_errno("create", temp.string());
    LayoutWriter writer(fd.get(), output.string());
    writer.file("oci-layout", Json{{"imageLayoutVersion", media_type::oci_layout_version}}.dump());
    Descriptor manifest{image.manifest.media_type, image.manifest_digest, 0, {}, "", ""};
    manifest.size = files_.read_blob(image.manifest_digest, "image manifest").size();
    manifest.annotations["org.opencontainers.image.ref.name"] = name.tag;
    manifest.annotations["io.containerd.image.name"] = name.str();
    const Json index{{"schemaVersion", 2},
                     {"mediaType", media_type::oci_index},
                     {"manifests", {Json::parse(descriptor_json(manifest))}}};
    writer.file("index.json", index.dump());
    writer.directory("blobs");
    writer.directory("blobs/sha256");
    std::set<std::string> written;
    std::vector<std::string> blobs{image.manifest_digest, image.id};
    for (const LayerInfo& layer : image.layers)
        blobs.push_back(layer.blob.digest);
    for (const std::string& digest : blobs) {
        if (!written.insert(digest).second) continue;
        const Fd blob = files_.open_blob(digest, "image " + std::string(reference));
        struct stat st {};
        if (::fstat(blob.get(), &st) != 0) throw_errno("stat blob", digest);
        writer.file_from("blobs/sha256/" + digest_hex(digest, "blob"), blob.get(),
                         static_cast<uint64_t>(st.st_size));
    }
    writer.close();
    if (::fsync(fd.get()) != 0) throw_errno("fsync", temp.string());
    fd.reset();
    if (::rename(temp.c_str(), output.c_str()) != 0) throw_errno("rename to", output.string());
    guard.dismiss();
}

} // namespace lcloud::runtime::image

#include "runtime/image/layer_stream.hpp"

#include "common/error.hpp"
#include "runtime/image/errors.hpp"

#include <cerrno>
#include <unistd.h>

namespace lcloud::runtime::image {

namespace {

constexpr size_t buffer_size = 256 * 1024;

std::string error_text(archive* handle) {
    const char* text = archive_error_string(handle);
    return text ? text : "unknown libarchive error";
}

// Whether libarchive has this decompressor built in. Registering one that is not makes libarchive
// run an external program: probed on a throwaway reader, once.
bool built_in(int (*support)(archive*)) {
    ReadArchive probe(archive_read_new());
    return probe && support(probe.get()) == ARCHIVE_OK;
}

void support_built_in_filters(archive* raw) {
    using Support = int (*)(archive*);
    static const std::vector<Support> filters = [] {
        std::vector<Support> found;
        for (Support support :
             {archive_read_support_filter_lzma, archive_read_support_filter_lzip,
              archive_read_support_filter_lz4, archive_read_support_filter_compress})
            if (built_in(support)) found.push_back(support);
        return found;
    }();
    for (Support support : filters)
        support(raw);
}

} // namespace

la_ssize_t LayerStream::read_file(archive* handle, void* self_pointer, const void** buffer) {
    auto* self = static_cast<LayerStream*>(self_pointer);
    for (;;) {
        const ssize_t count = ::read(self->fd_, self->file_buffer_.data(), buffer_size);
        if (count < 0 && errno == EINTR) continue;
        if (count < 0) {
            archive_set_error(handle, errno, "read failed");
            return -1;
        }
        if (self->hash_blob_)
            self->blob_hash_.update(self->file_buffer_.data(), static_cast<size_t>(count));
        self->blob_size_ += static_cast<uint64_t>(count);
        *buffer = self->file_buffer_.data();
        return count;
    }
}

la_ssize_t LayerStream::read_tar(archive* handle, void* self_pointer, const void** buffer) {
    auto* self = static_cast<LayerStream*>(self_pointer);
    const la_ssize_t count =
        archive_read_data(self->raw_.get(), self->tar_buffer_.data(), buffer_size);
    if (count < 0) {
        archive_set_error(handle, archive_errno(self->raw_.get()), "%s",
                          error_text(self->raw_.get()).c_str());
        return -1;
    }
    self->tar_hash_.update(self->tar_buffer_.data(), static_cast<size_t>(count));
    self->tar_size_ += static_cast<uint64_t>(count);
    // A decompression bomb is stopped here, whatever the tar headers claim.
    if (self->tar_size_ > self->max_tar_bytes_) {
        self->too_large_ = true;
        archive_set_error(handle, EFBIG, "uncompressed layer too large");
        return -1;
    }
    *buffer = self->tar_buffer_.data();
    return count;
}

LayerStream::LayerStream(int fd, std::string name, uint64_t max_tar_bytes)
    : fd_(fd), name_(std::move(name)), max_tar_bytes_(max_tar_bytes), file_buffer_(buffer_size),
      tar_buffer_(buffer_size), raw_(archive_read_new()), tar_(archive_read_new()) {
    if (!raw_ || !tar_) throw ImageError("read layer " + name_ + ": out of memory");
    archive* raw = raw_.get();
    // Only compiled-in decompressors: libarchive would otherwise run external programs.
    archive_read_support_filter_none(raw);
    archive_read_support_filter_gzip(raw);
    archive_read_support_filter_zstd(raw);
    archive_read_support_filter_xz(raw);
    archive_read_support_filter_bzip2(raw);
    support_built_in_filters(raw);
    archive_read_support_format_raw(raw);
    archive_read_support_format_empty(raw);
    if (archive_read_open(raw, this, nullptr, read_file, nullptr) != ARCHIVE_OK)
        throw ImageError("read layer " + name_ + ": " + error_text(raw));
    archive_entry* entry = nullptr;
    const int status = archive_read_next_header(raw, &entry);
    if (status != ARCHIVE_OK && status != ARCHIVE_WARN)
        throw ImageError("read layer " + name_ + ": " + error_text(raw) +
                         "; expected a tar archive, plain or compressed with gzip or zstd");
    switch (archive_filter_code(raw, 0)) {
    case ARCHIVE_FILTER_NONE:
        compression_ = Compression::none;
        break;
    case ARCHIVE_FILTER_GZIP:
        compression_ = Compression::gzip;
        break;
    case ARCHIVE_FILTER_ZSTD:
        compression_ = Compression::zstd;
        break;
    default:
        compression_ = Compression::other;
    }
    // An uncompressed blob is its own tar stream: one hash serves as both digests.
    hash_blob_ = compression_ != Compression::none;
    archive* tar = tar_.get();
    archive_read_support_format_tar(tar);
    archive_read_support_format_empty(tar);
    if (archive_read_open(tar, this, nullptr, read_tar, nullptr) != ARCHIVE_OK) fail("", "open");
}

LayerStream::~LayerStream() = default;

void LayerStream::fail(const std::string& entry, const std::string& action) const {
    if (too_large_)
        throw UnsafeArchive(entry.empty() ? name_ : entry,
                            "the uncompressed layer " + name_ + " exceeds " +
                                std::to_string(max_tar_bytes_) + " bytes, the limit");
    throw ImageError("read layer " + name_ + (entry.empty() ? "" : ", entry '" + entry + "'") +
                     ": " + action + ": " + error_text(tar_.get()) +
                     "; the archive is corrupt or not a tar archive");
}

archive_entry* LayerStream::next() {
    archive_entry* entry = nullptr;
    const int status = archive_read_next_header(tar_.get(), &entry);
    if (status == ARCHIVE_EOF) return nullptr;
    // ARCHIVE_RETRY too: libarchive's way of saying a header is damaged.
    if (status != ARCHIVE_OK && status != ARCHIVE_WARN) fail("", "read next header");
    return entry;
}

LayerDigests LayerStream::finish() {
    // The diff_id covers the whole tar stream, padding after the end marker included.
    for (;;) {
        const la_ssize_t count = archive_read_data(raw_.get(), tar_buffer_.data(), buffer_size);
        if (count < 0)
            throw ImageError("read layer " + name_ + ": " + error_text(raw_.get()) +
                             "; the compressed stream is corrupt");
        if (count == 0) break;
        tar_hash_.update(tar_buffer_.data(), static_cast<size_t>(count));
        tar_size_ += static_cast<uint64_t>(count);
        if (tar_size_ > max_tar_bytes_) {
            too_large_ = true;
            fail("", "read");
        }
    }
    // The blob digest covers the whole file, whatever the decompressor left unread.
    for (;;) {
        const ssize_t count = ::read(fd_, file_buffer_.data(), buffer_size);
        if (count < 0 && errno == EINTR) continue;
        if (count < 0) throw_errno("read layer", name_);
        if (count == 0) break;
        if (hash_blob_) blob_hash_.update(file_buffer_.data(), static_cast<size_t>(count));
        blob_size_ += static_cast<uint64_t>(count);
    }
    const std::string diff_id = tar_hash_.digest();
    if (!hash_blob_ && blob_size_ != tar_size_)
        throw ImageError("read layer " + name_ + ": " + std::to_string(blob_size_) +
                         " bytes read but " + std::to_string(tar_size_) +
                         " uncompressed, for an uncompressed layer");
    return LayerDigests{hash_blob_ ? blob_hash_.digest() : diff_id, blob_size_, diff_id, tar_size_,
                        compression_};
}

LayerDigests hash_layer(int fd, const std::string& name, uint64_t max_tar_bytes) {
    LayerStream stream(fd, name, max_tar_bytes);
    while (stream.next()) {
    }
    return stream.finish();
}

} // namespace lcloud::runtime::image

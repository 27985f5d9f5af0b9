#include "runtime/image/store_files.hpp"

#include "common/error.hpp"
#include "runtime/image/errors.hpp"
#include "runtime/image/sha256.hpp"
#include "state/atomic_file.hpp"

#include <atomic>
#include <cerrno>
#include <fcntl.h>
#include <stdio.h>
#include <sys/stat.h>
#include <system_error>
#include <unistd.h>
#include <vector>

namespace lcloud::runtime::image {

namespace fs = std::filesystem;

namespace {

void make_dir(const fs::path& path) {
    if (::mkdir(path.c_str(), 0700) != 0 && errno != EEXIST)
        throw_errno("create image store directory", path.string());
}

// rename(2) that never replaces: a blob or layer already in place is complete, and stays.
bool rename_no_replace(const fs::path& from, const fs::path& to) {
    if (::renameat2(AT_FDCWD, from.c_str(), AT_FDCWD, to.c_str(), RENAME_NOREPLACE) == 0)
        return true;
    if (errno == EEXIST || errno == ENOTEMPTY) return false;
    throw_errno("rename " + from.string() + " to", to.string());
}

void sync_dir(const fs::path& dir) {
    Fd fd(::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    if (!fd || ::fsync(fd.get()) != 0) throw_errno("fsync", dir.string());
}

} // namespace

RemoveGuard::~RemoveGuard() {
    std::error_code ignored;
    if (!path_.empty()) fs::remove_all(path_, ignored);
}

StoreFiles::StoreFiles(fs::path root, bool durable) : root_(std::move(root)), durable_(durable) {
    for (const fs::path& dir : {root_, root_ / "blobs", blobs_dir(), root_ / "layers", layers_dir(),
                                root_ / "diffids", diff_ids_dir(), tmp_dir()})
        make_dir(dir);
}

fs::path StoreFiles::blob_path(std::string_view digest) const {
    return blobs_dir() / digest_hex(digest, "blob");
}

fs::path StoreFiles::layer_path(std::string_view diff_id) const {
    return layers_dir() / digest_hex(diff_id, "layer diff_id");
}

fs::path StoreFiles::temp_path(std::string_view kind) const {
    static std::atomic<uint64_t> counter{0};
    return tmp_dir() / (std::string(kind) + "." + std::to_string(::getpid()) + "." +
                        std::to_string(counter.fetch_add(1)));
}

bool StoreFiles::has_blob(std::string_view digest) const {
    struct stat st {};
    return ::stat(blob_path(digest).c_str(), &st) == 0 && S_ISREG(st.st_mode);
}

StoredBlob StoreFiles::put_blob(int fd, const std::optional<std::string>& expected,
                                const std::string& what) const {
    const fs::path temp = temp_path("blob");
    RemoveGuard guard(temp);
    Fd out(::open(temp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600));
    if (!out) throw_errno("create", temp.string());
    Sha256 hash;
    StoredBlob blob;
    std::vector<char> buffer(256 * 1024);
    for (;;) {
        const ssize_t count = ::read(fd, buffer.data(), buffer.size());
        if (count < 0 && errno == EINTR) continue;
        if (count < 0) throw_errno("read", what);
        if (count == 0) break;
        hash.update(buffer.data(), static_cast<size_t>(count));
        blob.size += static_cast<uint64_t>(count);
        for (ssize_t done = 0; done < count;) {
            const ssize_t written =
                ::write(out.get(), buffer.data() + done, static_cast<size_t>(count - done));
            if (written < 0 && errno == EINTR) continue;
            if (written < 0) throw_errno("write", temp.string());
            done += written;
        }
    }
    blob.digest = hash.digest();
    if (expected && *expected != blob.digest) throw DigestMismatch(what, *expected, blob.digest);
    if (durable_ && ::fsync(out.get()) != 0) throw_errno("fsync", temp.string());
    out.reset();
    adopt_blob(temp, blob.digest);
    return blob;
}

StoredBlob StoreFiles::put_blob(std::string_view content) const {
    const std::string digest = sha256_digest(content);
    if (has_blob(digest)) return {digest, content.size()};
    const fs::path temp = temp_path("blob");
    RemoveGuard guard(temp);
    Fd out(::open(temp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600));
    if (!out) throw_errno("create", temp.string());
    for (size_t done = 0; done < content.size();) {
        const ssize_t written = ::write(out.get(), content.data() + done, content.size() - done);
        if (written < 0 && errno == EINTR) continue;
        if (written < 0) throw_errno("write", temp.string());
        done += static_cast<size_t>(written);
    }
    if (durable_ && ::fsync(out.get()) != 0) throw_errno("fsync", temp.string());
    out.reset();
    adopt_blob(temp, digest);
    return {digest, content.size()};
}

void StoreFiles::adopt_blob(const fs::path& file, const std::string& digest) const {
    if (::chmod(file.c_str(), 0644) != 0) throw_errno("chmod", file.string());
    if (!rename_no_replace(file, blob_path(digest))) {
        ::unlink(file.c_str());
        return;
    }
    if (durable_) sync_dir(blobs_dir());
}

Fd StoreFiles::open_blob(std::string_view digest, const std::string& what) const {
    Fd fd(::open(blob_path(digest).c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW));
    if (!fd && errno == ENOENT)
        throw ImageError(what + ": blob " + std::string(digest) +
                         " is missing from the image store; import the image again");
    if (!fd) throw_errno("open blob", blob_path(digest).string());
    return fd;
}

std::string StoreFiles::read_blob(std::string_view digest, const std::string& what,
                                  uint64_t limit) const {
    const Fd fd = open_blob(digest, what);
    std::string content;
    char buffer[65536];
    for (;;) {
        const ssize_t count = ::read(fd.get(), buffer, sizeof buffer);
        if (count < 0 && errno == EINTR) continue;
        if (count < 0) throw_errno("read blob", blob_path(digest).string());
        if (count == 0) break;
        content.append(buffer, static_cast<size_t>(count));
        if (content.size() > limit)
            throw ImageError(what + ": blob " + std::string(digest) + " is larger than " +
                             std::to_string(limit) + " bytes; a manifest or config never is");
    }
    const std::string actual = sha256_digest(content);
    if (actual != digest)
        throw DigestMismatch(what + " (blob in the store)", std::string(digest), actual);
    return content;
}

std::string StoreFiles::recorded_diff_id(std::string_view blob_digest) const {
    const auto text = state::read_file(diff_ids_dir() / digest_hex(blob_digest, "blob"));
    return text && is_sha256_digest(*text) ? *text : std::string();
}

void StoreFiles::record_diff_id(std::string_view blob_digest, const std::string& diff_id) const {
    state::write_file_atomic(diff_ids_dir() / digest_hex(blob_digest, "blob"), diff_id, 0644,
                             durable_ ? state::Durability::power_loss
                                      : state::Durability::killed_writer);
}

void StoreFiles::ensure_layer(std::string_view blob_digest, std::string_view diff_id,
                              const ExtractLimits& limits, const std::string& what) const {
    std::error_code error;
    if (!fs::is_directory(fs::symlink_status(layer_path(diff_id), error))) {
        unpack(blob_digest, std::string(diff_id), limits, what);
        return;
    }
    // The layer is there, but this blob must still be shown to be it: an uncompressed blob is
    // its own tar stream; another was verified once, or is hashed now without unpacking.
    if (blob_digest == diff_id || recorded_diff_id(blob_digest) == diff_id) return;
    const Fd blob = open_blob(blob_digest, what);
    const LayerDigests digests = hash_layer(blob.get(), what, limits.max_bytes);
    if (digests.diff_id != diff_id)
        throw DigestMismatch(what + ": its uncompressed tar stream, which the image config lists "
                                    "as diff_id",
                             std::string(diff_id), digests.diff_id);
    record_diff_id(blob_digest, digests.diff_id);
}

LayerDigests StoreFiles::add_layer(std::string_view blob_digest, const ExtractLimits& limits,
                                   const std::string& what) const {
    return unpack(blob_digest, std::nullopt, limits, what);
}

LayerDigests StoreFiles::unpack(std::string_view blob_digest,
                                const std::optional<std::string>& diff_id,
                                const ExtractLimits& limits, const std::string& what) const {
    const Fd blob = open_blob(blob_digest, what);
    const fs::path temp = temp_path("layer");
    RemoveGuard guard(temp);
    const LayerDigests digests = extract_layer(blob.get(), temp, what, limits);
    if (digests.blob_digest != blob_digest)
        throw DigestMismatch(what + " (blob in the store)", std::string(blob_digest),
                             digests.blob_digest);
    if (diff_id && digests.diff_id != *diff_id)
        throw DigestMismatch(what + ": its uncompressed tar stream, which the image config lists "
                                    "as diff_id",
                             *diff_id, digests.diff_id);
    if (durable_) {
        const Fd dir(::open(temp.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
        if (!dir || ::syncfs(dir.get()) != 0) throw_errno("syncfs", temp.string());
    }
    if (digests.blob_digest != digests.diff_id) record_diff_id(blob_digest, digests.diff_id);
    // Whoever renames first wins; a loser's copy is the same content and goes with the guard.
    if (rename_no_replace(temp, layer_path(digests.diff_id))) guard.dismiss();
    return digests;
}

} // namespace lcloud::runtime::image

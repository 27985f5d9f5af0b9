#pragma once

// Builds the archives the image tests read, with libarchive's writer: nothing binary is checked in.

#include <algorithm>
#include <archive.h>
#include <archive_entry.h>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <sys/stat.h>
#include <utility>
#include <vector>

namespace lcloud::test::image {

struct Entry {
    std::string path;
    unsigned type = AE_IFREG;
    unsigned perm = 0644;
    std::string data;
    std::string symlink;  // target of a symlink
    std::string hardlink; // target of a hardlink
    int64_t uid = 0;
    int64_t gid = 0;
    int64_t mtime = 1'600'000'000;
    unsigned major = 0;
    unsigned minor = 0;
    std::vector<std::pair<std::string, std::string>> xattrs;
};

inline Entry file(std::string path, std::string data, unsigned perm = 0644) {
    Entry entry;
    entry.path = std::move(path);
    entry.data = std::move(data);
    entry.perm = perm;
    return entry;
}
inline Entry dir(std::string path, unsigned perm = 0755) {
    Entry entry;
    entry.path = std::move(path);
    entry.type = AE_IFDIR;
    entry.perm = perm;
    return entry;
}
inline Entry symlink_to(std::string path, std::string target) {
    Entry entry;
    entry.path = std::move(path);
    entry.type = AE_IFLNK;
    entry.perm = 0777;
    entry.symlink = std::move(target);
    return entry;
}
inline Entry hardlink(std::string path, std::string target) {
    Entry entry;
    entry.path = std::move(path);
    entry.hardlink = std::move(target);
    return entry;
}
inline Entry node(std::string path, unsigned type, unsigned perm, unsigned major = 0,
                  unsigned minor = 0) {
    Entry entry;
    entry.path = std::move(path);
    entry.type = type;
    entry.perm = perm;
    entry.major = major;
    entry.minor = minor;
    return entry;
}

enum class Filter { none, gzip, zstd };

namespace detail {
struct WriteFree {
    void operator()(archive* handle) const { archive_write_free(handle); }
};
inline la_ssize_t append(archive*, void* out, const void* data, size_t size) {
    static_cast<std::string*>(out)->append(static_cast<const char*>(data), size);
    return static_cast<la_ssize_t>(size);
}
inline void check(archive* handle, int status, const char* what) {
    if (status < ARCHIVE_WARN) {
        const char* text = archive_error_string(handle);
        throw std::runtime_error(std::string(what) + ": " + (text ? text : "?"));
    }
}
} // namespace detail

// A pax tar archive of `entries`, in order, compressed with `filter`.
inline std::string make_tar(const std::vector<Entry>& entries, Filter filter = Filter::none) {
    std::string out;
    std::unique_ptr<archive, detail::WriteFree> writer(archive_write_new());
    archive* w = writer.get();
    detail::check(w, archive_write_set_format_pax_restricted(w), "set format");
    if (filter == Filter::gzip) detail::check(w, archive_write_add_filter_gzip(w), "gzip");
    if (filter == Filter::zstd) detail::check(w, archive_write_add_filter_zstd(w), "zstd");
    // Padding after a compressed stream would be garbage to zstd.
    if (filter != Filter::none) archive_write_set_bytes_in_last_block(w, 1);
    detail::check(w, archive_write_open(w, &out, nullptr, detail::append, nullptr), "open");
    for (const Entry& spec : entries) {
        std::unique_ptr<archive_entry, decltype(&archive_entry_free)> entry(archive_entry_new(),
                                                                            archive_entry_free);
        archive_entry* e = entry.get();
        archive_entry_set_pathname(e, spec.path.c_str());
        archive_entry_set_filetype(e, spec.type);
        archive_entry_set_perm(e, spec.perm);
        archive_entry_set_uid(e, spec.uid);
        archive_entry_set_gid(e, spec.gid);
        archive_entry_set_mtime(e, spec.mtime, 0);
        if (!spec.symlink.empty()) archive_entry_set_symlink(e, spec.symlink.c_str());
        if (!spec.hardlink.empty()) archive_entry_set_hardlink(e, spec.hardlink.c_str());
        if (spec.type == AE_IFCHR || spec.type == AE_IFBLK) {
            archive_entry_set_rdevmajor(e, spec.major);
            archive_entry_set_rdevminor(e, spec.minor);
        }
        for (const auto& [name, value] : spec.xattrs)
            archive_entry_xattr_add_entry(e, name.c_str(), value.data(), value.size());
        const bool has_data = spec.type == AE_IFREG && spec.hardlink.empty();
        archive_entry_set_size(e, has_data ? static_cast<la_int64_t>(spec.data.size()) : 0);
        detail::check(w, archive_write_header(w, e), "write header");
        if (has_data && !spec.data.empty())
            detail::check(
                w,
                static_cast<int>(archive_write_data(w, spec.data.data(), spec.data.size()) < 0
                                     ? ARCHIVE_FATAL
                                     : ARCHIVE_OK),
                "write data");
    }
    detail::check(w, archive_write_close(w), "close");
    return out;
}

// A gzip or zstd stream of `data` as it is (no tar inside).
inline std::string compress(const std::string& data, Filter filter) {
    std::string out;
    std::unique_ptr<archive, detail::WriteFree> writer(archive_write_new());
    archive* w = writer.get();
    detail::check(w, archive_write_set_format_raw(w), "raw");
    if (filter == Filter::gzip) detail::check(w, archive_write_add_filter_gzip(w), "gzip");
    if (filter == Filter::zstd) detail::check(w, archive_write_add_filter_zstd(w), "zstd");
    archive_write_set_bytes_in_last_block(w, 1);
    detail::check(w, archive_write_open(w, &out, nullptr, detail::append, nullptr), "open");
    std::unique_ptr<archive_entry, decltype(&archive_entry_free)> entry(archive_entry_new(),
                                                                        archive_entry_free);
    archive_entry_set_filetype(entry.get(), AE_IFREG);
    detail::check(w, archive_write_header(w, entry.get()), "header");
    if (archive_write_data(w, data.data(), data.size()) < 0) throw std::runtime_error("write");
    detail::check(w, archive_write_close(w), "close");
    return out;
}

// One ustar header block, written by hand for what libarchive's writer will not produce: sizes
// that no data follows. `size` is stored in base-256, as tar does past 8 GiB.
inline std::string raw_tar_header(const std::string& name, uint64_t size, char type = '0') {
    std::string block(512, '\0');
    name.copy(block.data(), std::min<size_t>(name.size(), 99));
    std::string("0000644").copy(block.data() + 100, 7);
    std::string("0000000").copy(block.data() + 108, 7);
    std::string("0000000").copy(block.data() + 116, 7);
    block[124] = static_cast<char>(0x80);
    for (int i = 0; i < 8; ++i)
        block[135 - i] = static_cast<char>((size >> (8 * i)) & 0xff);
    std::string("14000000000").copy(block.data() + 136, 11);
    block[156] = type;
    std::string("ustar").copy(block.data() + 257, 5);
    block[263] = '0';
    block[264] = '0';
    std::string(8, ' ').copy(block.data() + 148, 8);
    unsigned sum = 0;
    for (unsigned char byte : block)
        sum += byte;
    char checksum[8];
    std::snprintf(checksum, sizeof checksum, "%06o", sum);
    std::string(checksum, 6).copy(block.data() + 148, 6);
    block[154] = '\0';
    return block;
}

inline void write_file(const std::filesystem::path& path, const std::string& content) {
    std::ofstream out(path, std::ios::binary | std::ios::trunc);
    out.write(content.data(), static_cast<std::streamsize>(content.size()));
    if (!out) throw std::runtime_error("cannot write " + path.string());
}

inline std::string read_file(const std::filesystem::path& path) {
    std::ifstream in(path, std::ios::binary);
    return std::string(std::istreambuf_iterator<char>(in), {});
}

} // namespace lcloud::test::image

#include "agent/logs/log_tail.hpp"

#include "common/error.hpp"

#include <algorithm>
#include <cerrno>
#include <fcntl.h>
#include <string>
#include <string_view>
#include <sys/stat.h>
#include <unistd.h>

namespace lcloud::agent {

namespace fs = std::filesystem;

namespace {

constexpr size_t chunk_size = 64 << 10;

// Null when the file went away meanwhile (rotated out).
Fd open_log(const fs::path& path) {
    Fd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
    if (!fd && errno != ENOENT) throw_errno("open", path.string());
    return fd;
}

size_t pread_some(int fd, char* buffer, size_t size, off_t offset, const fs::path& path) {
    for (;;) {
        const ssize_t got = ::pread(fd, buffer, size, offset);
        if (got >= 0) return static_cast<size_t>(got);
        if (errno != EINTR) throw_errno("read", path.string());
    }
}

void read_all(const fs::path& path, std::vector<LogEntry>& entries) {
    const Fd fd = open_log(path);
    if (!fd) return;
    std::string pending;
    char buffer[chunk_size];
    for (off_t offset = 0;;) {
        const size_t got = pread_some(fd.get(), buffer, sizeof buffer, offset, path);
        if (got == 0) break;
        offset += static_cast<off_t>(got);
        pending.append(buffer, got);
        std::string_view rest(pending);
        for (size_t newline; (newline = rest.find('\n')) != std::string_view::npos;) {
            if (auto entry = parse_log_entry(rest.substr(0, newline)))
                entries.push_back(std::move(*entry));
            rest.remove_prefix(newline + 1);
        }
        pending.erase(0, pending.size() - rest.size());
    }
    if (auto entry = parse_log_entry(pending)) entries.push_back(std::move(*entry));
}

// Adds the file's entries to `newest_first` from its end until it holds `count`.
void read_backwards(const fs::path& path, size_t count, std::vector<LogEntry>& newest_first) {
    const Fd fd = open_log(path);
    if (!fd) return;
    struct stat info {};
    if (::fstat(fd.get(), &info) != 0) throw_errno("fstat", path.string());
    // `carry` is the file from `offset` up to the lines taken already; it ends with the newline
    // of its last line, except at the end of a torn file.
    std::string carry;
    off_t offset = info.st_size;
    char buffer[chunk_size];
    while (newest_first.size() < count) {
        size_t end = carry.size();
        if (end > 0 && carry[end - 1] == '\n') --end;
        const size_t newline = end == 0 ? std::string::npos : carry.rfind('\n', end - 1);
        if (newline == std::string::npos && offset > 0) {
            const size_t size = std::min<size_t>(chunk_size, static_cast<size_t>(offset));
            offset -= static_cast<off_t>(size);
            const size_t got = pread_some(fd.get(), buffer, size, offset, path);
            if (got != size) break; // truncated under us: what was read stands
            carry.insert(0, buffer, size);
            continue;
        }
        const size_t start = newline == std::string::npos ? 0 : newline + 1;
        if (auto entry = parse_log_entry(std::string_view(carry).substr(start, end - start)))
            newest_first.push_back(std::move(*entry));
        if (start == 0) break;
        carry.resize(start);
    }
}

} // namespace

std::vector<LogEntry> read_tail(const fs::path& dir, std::optional<size_t> count) {
    const auto files = log_files(dir);
    std::vector<LogEntry> entries;
    if (!count || *count == 0) {
        for (const auto& file : files)
            read_all(file, entries);
        return entries;
    }
    for (auto file = files.rbegin(); file != files.rend() && entries.size() < *count; ++file)
        read_backwards(*file, *count, entries);
    std::reverse(entries.begin(), entries.end());
    return entries;
}

} // namespace lcloud::agent

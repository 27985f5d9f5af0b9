#pragma once

// A container's log as Docker's json-file driver writes it: DIR/container.log, one JSON object
// per line, {"log": "the line\n", "stream": "stdout", "time": "2026-11-23T12:00:00.123456789Z"},
// rotated by size into container.log.1 (newer) ... container.log.N (older).
//
// Streams are "stdout" and "stderr"; an entry whose "log" lacks the final newline is one piece
// of a longer line (or the last, unterminated line before an exit). The stream "event" carries
// what the supervisor says about the container, e.g. "restarted (exit code 1)\n".

#include "common/fd.hpp"

#include <cstdint>
#include <ctime>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace lcloud::agent {

inline constexpr std::string_view log_file_name = "container.log";

struct LogOptions {
    uint64_t max_bytes = 10 << 20; // rotate container.log once it passes this size
    int max_files = 3;             // container.log and what rotation keeps: .1, .2
};

struct LogEntry {
    std::string time;
    std::string stream;
    std::string log;
    bool operator==(const LogEntry&) const = default;
};

// RFC 3339 in UTC with nanoseconds: fixed width, so entries sort by time as strings.
std::string format_log_time(const timespec& time);

// One line of a log file, nullopt when it is not an entry (a line torn by a killed writer).
std::optional<LogEntry> parse_log_entry(std::string_view line);

// The log files that exist in DIR, oldest first: container.log.N ... container.log.1,
// container.log. Throws SystemError when DIR cannot be read.
std::vector<std::filesystem::path> log_files(const std::filesystem::path& dir);

// Appends entries to DIR/container.log and rotates it. Not thread-safe; one writer per DIR.
class LogFile {
  public:
    explicit LogFile(std::filesystem::path dir, LogOptions options = {});

    // `text` is written as given, invalid UTF-8 replaced by U+FFFD.
    void append(std::string_view stream, std::string_view text);
    void append(std::string_view stream, std::string_view text, const timespec& time);

    const std::filesystem::path& path() const { return path_; }

  private:
    void open();
    void rotate();

    std::filesystem::path dir_;
    std::filesystem::path path_;
    LogOptions options_;
    Fd file_;
    uint64_t size_ = 0;
};

} // namespace lcloud::agent

#include "agent/logs/log_file.hpp"

#include "common/error.hpp"

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <fcntl.h>
#include <fmt/format.h>
#include <nlohmann/json.hpp>
#include <sys/stat.h>
#include <unistd.h>

namespace lcloud::agent {

namespace fs = std::filesystem;

namespace {

// The N of container.log.N, or nullopt for any other name.
std::optional<int> rotation_number(std::string_view name) {
    const std::string prefix = std::string(log_file_name) + ".";
    if (name.size() <= prefix.size() || name.substr(0, prefix.size()) != prefix)
        return std::nullopt;
    const std::string_view digits = name.substr(prefix.size());
    int number = 0;
    const auto [end, error] = std::from_chars(digits.data(), digits.data() + digits.size(), number);
    if (error != std::errc() || end != digits.data() + digits.size() || number < 1)
        return std::nullopt;
    return number;
}

fs::path rotated_path(const fs::path& dir, int number) {
    return dir / fmt::format("{}.{}", log_file_name, number);
}

void write_all(int fd, std::string_view bytes, const fs::path& path) {
    while (!bytes.empty()) {
        const ssize_t written = ::write(fd, bytes.data(), bytes.size());
        if (written < 0 && errno == EINTR) continue;
        if (written < 0) throw_errno("write", path.string());
        bytes.remove_prefix(static_cast<size_t>(written));
    }
}

} // namespace

std::string format_log_time(const timespec& time) {
    tm parts{};
    ::gmtime_r(&time.tv_sec, &parts);
    return fmt::format("{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:09}Z", parts.tm_year + 1900,
                       parts.tm_mon + 1, parts.tm_mday, parts.tm_hour, parts.tm_min, parts.tm_sec,
                       time.tv_nsec);
}

std::optional<LogEntry> parse_log_entry(std::string_view line) {
    const auto json = nlohmann::json::parse(line.begin(), line.end(), nullptr, false);
    if (json.is_discarded() || !json.is_object()) return std::nullopt;
    LogEntry entry;
    for (auto [key, field] : {std::pair{"time", &entry.time}, std::pair{"stream", &entry.stream},
                              std::pair{"log", &entry.log}}) {
        const auto found = json.find(key);
        if (found == json.end() || !found->is_string()) return std::nullopt;
        *field = found->get<std::string>();
    }
    return entry;
}

std::vector<fs::path> log_files(const fs::path& dir) {
    std::error_code error;
    fs::directory_iterator entries(dir, error);
    if (error) throw SystemError("read the log directory", dir.string(), error.value());
    std::vector<std::pair<int, fs::path>> rotated;
    bool current = false;
    for (const auto& entry : entries) {
        const std::string name = entry.path().filename().string();
        if (name == log_file_name)
            current = true;
        else if (const auto number = rotation_number(name))
            rotated.emplace_back(*number, entry.path());
    }
    std::sort(rotated.begin(), rotated.end(),
              [](const auto& a, const auto& b) { return a.first > b.first; });
    std::vector<fs::path> files;
    for (auto& [number, path] : rotated)
        files.push_back(std::move(path));
    if (current) files.push_back(dir / log_file_name);
    return files;
}

LogFile::LogFile(fs::path dir, LogOptions options)
    : dir_(std::move(dir)), path_(dir_ / log_file_name), options_(options) {
    if (options_.max_bytes == 0 || options_.max_files < 1)
        throw Error(fmt::format("log options for {}: max_bytes ({}) and max_files ({}) must be at "
                                "least 1",
                                dir_.string(), options_.max_bytes, options_.max_files));
    open();
}

void LogFile::open() {
    // Read-write only to look at the last byte.
    Fd file(::open(path_.c_str(), O_RDWR | O_CREAT | O_APPEND | O_CLOEXEC, 0600));
    if (!file) throw_errno("open", path_.string());
    struct stat info {};
    if (::fstat(file.get(), &info) != 0) throw_errno("fstat", path_.string());
    size_ = static_cast<uint64_t>(info.st_size);
    // A writer killed mid-line left it torn: end it, so that it costs one entry, not two.
    char last = '\n';
    if (size_ > 0 && ::pread(file.get(), &last, 1, info.st_size - 1) != 1)
        throw_errno("read", path_.string());
    file_ = std::move(file);
    if (last != '\n') {
        write_all(file_.get(), "\n", path_);
        ++size_;
    }
}

void LogFile::append(std::string_view stream, std::string_view text) {
    timespec now{};
    ::clock_gettime(CLOCK_REALTIME, &now);
    append(stream, text, now);
}

void LogFile::append(std::string_view stream, std::string_view text, const timespec& time) {
    const nlohmann::json entry{
        {"time", format_log_time(time)}, {"stream", stream}, {"log", std::string(text)}};
    const std::string line =
        entry.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) + "\n";
    write_all(file_.get(), line, path_);
    size_ += line.size();
    if (size_ >= options_.max_bytes) rotate();
}

void LogFile::rotate() {
    // Leftovers of a larger max_files would otherwise stay forever.
    for (const auto& path : log_files(dir_)) {
        const auto number = rotation_number(path.filename().string());
        if (number && *number >= options_.max_files && ::unlink(path.c_str()) != 0 &&
            errno != ENOENT)
            throw_errno("unlink", path.string());
    }
    for (int number = options_.max_files - 1; number >= 1; --number) {
        const fs::path from = number == 1 ? path_ : rotated_path(dir_, number - 1);
        const fs::path to = rotated_path(dir_, number);
        if (::rename(from.c_str(), to.c_str()) != 0 && errno != ENOENT)
            throw_errno("rename", from.string() + " to " + to.string());
    }
    if (options_.max_files == 1 && ::unlink(path_.c_str()) != 0 && errno != ENOENT)
        throw_errno("unlink", path_.string());
    open();
}

} // namespace lcloud::agent

#include "runtime/cgroups/files.hpp"

#include "common/fd.hpp"
#include "common/strings.hpp"
#include "state/atomic_file.hpp"

#include <cerrno>
#include <cstring>
#include <fcntl.h>
#include <fmt/format.h>
#include <unistd.h>

namespace lcloud::runtime::cgroups {

namespace fs = std::filesystem;

std::optional<std::string> read_value(const fs::path& file) {
    auto content = state::read_file(file);
    if (!content) return std::nullopt;
    return std::string(trim(*content));
}

void write_value(const fs::path& file, std::string_view value, std::string_view hint) {
    const auto fail = [&](int error_number) {
        throw CgroupError(fmt::format("write \"{}\" to {}: {}{}{}", value, file.string(),
                                      std::strerror(error_number), hint.empty() ? "" : "; ", hint),
                          error_number);
    };
    Fd fd(::open(file.c_str(), O_WRONLY | O_TRUNC | O_CLOEXEC));
    if (!fd) fail(errno);
    ssize_t written;
    while ((written = ::write(fd.get(), value.data(), value.size())) < 0 && errno == EINTR) {
    }
    if (written < 0) fail(errno);
    if (static_cast<size_t>(written) != value.size()) fail(EIO);
}

bool file_exists(const fs::path& file) {
    return ::access(file.c_str(), F_OK) == 0;
}

std::vector<pid_t> read_pids(const fs::path& procs_file) {
    std::vector<pid_t> pids;
    std::optional<std::string> content;
    try {
        content = state::read_file(procs_file);
    } catch (const SystemError& error) {
        // The cgroup was removed between listing and reading.
        if (error.error_number() == ENODEV) return pids;
        throw;
    }
    if (!content) return pids;
    for (const std::string& word : words(*content))
        pids.push_back(static_cast<pid_t>(std::stol(word)));
    return pids;
}

std::vector<std::string> words(std::string_view text) {
    std::vector<std::string> result;
    size_t position = 0;
    while (position < text.size()) {
        const size_t start = text.find_first_not_of(" \t\n", position);
        if (start == std::string_view::npos) break;
        size_t end = text.find_first_of(" \t\n", start);
        if (end == std::string_view::npos) end = text.size();
        result.emplace_back(text.substr(start, end - start));
        position = end;
    }
    return result;
}

} // namespace lcloud::runtime::cgroups

#include "runtime/security/proc_files.hpp"

#include "common/error.hpp"
#include "common/fd.hpp"
#include "common/strings.hpp"

#include <cerrno>
#include <fcntl.h>
#include <unistd.h>

namespace lcloud::runtime::security {

std::optional<std::string> read_proc_value(const char* path) {
    const Fd fd(::open(path, O_RDONLY | O_CLOEXEC));
    if (!fd) return std::nullopt;
    std::string text;
    char buffer[256];
    for (;;) {
        const ssize_t count = ::read(fd.get(), buffer, sizeof buffer);
        if (count < 0 && errno == EINTR) continue;
        if (count < 0) throw_errno("read", path);
        if (count == 0) break;
        text.append(buffer, static_cast<size_t>(count));
    }
    return std::string(trim(text));
}

void write_proc_value(const char* path, const std::string& value) {
    const Fd fd(::open(path, O_WRONLY | O_CLOEXEC));
    if (!fd) throw_errno("open", path);
    ssize_t count;
    while ((count = ::write(fd.get(), value.data(), value.size())) < 0 && errno == EINTR) {
    }
    if (count < 0) throw_errno("write " + value + " to", path);
    if (static_cast<size_t>(count) != value.size()) {
        errno = EIO;
        throw_errno("write " + value + " to", path);
    }
}

} // namespace lcloud::runtime::security

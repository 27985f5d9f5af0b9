#include "runtime/image/file_lock.hpp"

#include "common/error.hpp"

#include <cerrno>
#include <fcntl.h>
#include <sys/file.h>

namespace lcloud::runtime::image {

FileLock::FileLock(const std::filesystem::path& path, Mode mode)
    : fd_(::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600)) {
    if (!fd_) throw_errno("open lock file", path.string());
    while (::flock(fd_.get(), mode == Mode::shared ? LOCK_SH : LOCK_EX) != 0)
        if (errno != EINTR) throw_errno("lock", path.string());
}

} // namespace lcloud::runtime::image

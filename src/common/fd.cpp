#include "common/fd.hpp"

#include <unistd.h>

namespace lcloud {

void Fd::reset(int fd) {
    if (fd_ >= 0) ::close(fd_);
    fd_ = fd;
}

} // namespace lcloud

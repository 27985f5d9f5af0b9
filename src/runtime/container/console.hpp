#pragma once

#include "common/fd.hpp"
#include "runtime/oci/config.hpp"

#include <filesystem>

namespace lcloud::runtime {

// Connects to the caller's --console-socket (a unix stream socket).
Fd connect_console_socket(const std::filesystem::path& path);

// In the container, after /dev/pts is mounted: makes a pseudo-terminal, sends its master over
// `socket` (SCM_RIGHTS, as runc and crun do), and makes its slave the controlling terminal and
// stdin, stdout and stderr of this process.
void setup_terminal(int socket, const std::optional<oci::ConsoleSize>& size);

} // namespace lcloud::runtime

#pragma once

// The last exec into a container's program goes through lcloud-dmz (src/runtime/dmz/dmz.c), run
// from a sealed memfd, so that the runtime's host binary is never a container process's
// /proc/self/exe (CVE-2019-5736).

#include "common/fd.hpp"

#include <string>
#include <string_view>
#include <vector>

namespace lcloud::runtime {

// The program's bytes, compiled in.
extern const std::string_view dmz_binary;

// A memfd holding lcloud-dmz, sealed against every change. Throws SystemError.
Fd make_dmz_memfd();

// Execs `executable` with `args` and `env` through the dmz. Should the kernel or the config's
// seccomp profile refuse execveat, execs `executable` directly. Returns only on failure, with
// errno set.
void exec_through_dmz(const Fd& dmz, const std::string& executable,
                      const std::vector<std::string>& args, const std::vector<std::string>& env);

} // namespace lcloud::runtime

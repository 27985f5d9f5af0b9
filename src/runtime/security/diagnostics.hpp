#pragma once

// How the process-security module tells its caller about problems: exceptions for settings it
// refuses, a callback for settings it skips.

#include "common/error.hpp"

#include <functional>
#include <string_view>

namespace lcloud::runtime::security {

// The config names something unknown (a capability, rlimit, seccomp action or operator), asks for
// something contradictory, or for something lcloud-runtime does not support (SCMP_ACT_NOTIFY).
class InvalidSetting : public Error {
  public:
    using Error::Error;
};

// The setting is valid, but this process may not apply it (a hard rlimit above the current one
// without CAP_SYS_RESOURCE, supplementary groups where setgroups is denied).
class NotPermitted : public Error {
  public:
    using Error::Error;
};

// Receives one line per setting that was skipped because this kernel or library cannot apply it,
// which the runtime spec asks to log as a warning rather than fail on. Runs inside the container's
// init, so the caller routes it to wherever that process reports.
using SkipReport = std::function<void(std::string_view message)>;

} // namespace lcloud::runtime::security

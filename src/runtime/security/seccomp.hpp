#pragma once

// The container process's seccomp filter, built with libseccomp from the OCI profile.

#include "runtime/oci/config.hpp"
#include "runtime/security/diagnostics.hpp"

namespace lcloud::runtime::security {

// Builds the whole filter, then loads it into this process; an error before the load leaves the
// process unfiltered. Loading needs no_new_privs or CAP_SYS_ADMIN, and this function sets
// neither: the caller orders it (load before dropping capabilities, or after
// set_no_new_privileges). Syscall names libseccomp does not know on this architecture and
// architectures it cannot build for are skipped and reported, as runc does. Throws
// InvalidSetting for an unknown action, operator, architecture or flag, for SCMP_ACT_NOTIFY, and
// for errnoRet on an action that returns no errno.
void apply_seccomp(const oci::Seccomp& profile, const SkipReport& report = {});

} // namespace lcloud::runtime::security

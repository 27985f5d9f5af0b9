#pragma once

// The process's identity and privileges, applied by the container's init to itself after the
// rootfs is ready and just before execve.

#include "runtime/oci/config.hpp"
#include "runtime/security/diagnostics.hpp"

#include <optional>
#include <string_view>
#include <vector>

namespace lcloud::runtime::security {

// The kernel's number for a capability as the spec names it ("CAP_NET_RAW" -> 13). Throws
// InvalidSetting for a name that is not a capability, with the closest known name. A valid name
// may still be above last_capability() on an older kernel; change_user skips those.
int capability_from_name(std::string_view name);

// The highest capability number the running kernel knows (/proc/sys/kernel/cap_last_cap).
int last_capability();

// Becomes `user` with exactly the capability sets in `caps`, in the order the OCI runtimes use:
// keep capabilities across the uid change, shrink the bounding set, set the supplementary groups,
// gid, uid, then the permitted, effective and inheritable sets exactly, then the ambient set.
// An unlisted set is empty: inheritable capabilities never leak into the exec'd program. With
// `caps` nullopt every set, bounding included, is empty. Capabilities this kernel does not know
// or this process cannot grant are skipped and reported, as the runtime spec asks. Also applies
// user.umask when set.
void change_user(const oci::User& user, const std::optional<oci::Capabilities>& caps,
                 const SkipReport& report = {});

// Sets each rlimit, after checking them all (known type, listed once, soft <= hard).
void apply_rlimits(const std::vector<oci::Rlimit>& rlimits);

void set_no_new_privileges();

// Writes /proc/self/oom_score_adj; `score` must be within -1000..1000.
void set_oom_score_adj(int score);

} // namespace lcloud::runtime::security

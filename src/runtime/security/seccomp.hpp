#pragma once

// The container process's seccomp filter, built with libseccomp from the OCI profile.

#include "runtime/oci/config.hpp"
#include "runtime/security/diagnostics.hpp"

#include <filesystem>
#include <string>

namespace lcloud::runtime::security {

// Builds the whole filter, then loads it into this process; an error before the load leaves the
// process unfiltered. Loading needs no_new_privs or CAP_SYS_ADMIN, and this function sets
// neither: the caller orders it (load before dropping capabilities, or after
// set_no_new_privileges). Syscall names libseccomp does not know on this architecture and
// architectures it cannot build for are skipped and reported, as runc does. Throws
// InvalidSetting for an unknown action, operator, architecture or flag, for SCMP_ACT_NOTIFY, and
// for errnoRet on an action that returns no errno.
void apply_seccomp(const oci::Seccomp& profile, const SkipReport& report = {});

// A filter compiled to BPF, with the seccomp(2) flags to load it with.
struct SeccompProgram {
    std::string bpf; // struct sock_filter[], as the kernel takes it
    unsigned int flags = 0;
};

// apply_seccomp in two halves: compiling, which the runtime can do (and cache) outside the
// container, and loading, which the container's process does last.
SeccompProgram compile_seccomp(const oci::Seccomp& profile, const SkipReport& report = {});
void load_seccomp(const SeccompProgram& program);

// compile_seccomp through a cache of compiled programs in `cache_dir` (created if missing),
// keyed by the profile and the libseccomp version: compiling costs a container start more than
// anything else the runtime does in user space.
SeccompProgram compile_seccomp_cached(const oci::Seccomp& profile,
                                      const std::filesystem::path& cache_dir);

} // namespace lcloud::runtime::security

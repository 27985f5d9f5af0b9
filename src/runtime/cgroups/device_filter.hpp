#pragma once

// cgroup2 has no devices.allow: the kernel asks an eBPF program of type
// BPF_PROG_TYPE_CGROUP_DEVICE, attached to the cgroup, whether a process may open or mknod a
// device. This builds that program from the OCI device rules and attaches it, with the raw bpf(2)
// system call.

#include "common/fd.hpp"
#include "runtime/oci/config.hpp"

#include <filesystem>
#include <linux/bpf.h>
#include <vector>

namespace lcloud::runtime::cgroups {

// The program for `rules` (linux.resources.devices). The last rule that matches a request decides
// it; a request that no rule matches is denied. A rule of type b or c matches a request for a
// device of its type whose major and minor equal the rule's (an unset or negative one matches
// any) and whose requested access (r, w, m) is, for an allow rule, a subset of the rule's, and
// for a deny rule, overlaps the rule's: after [allow c 1:7 rwm, deny c 1:7 w] a read-write open
// is denied, as on v1 and in runc (which replays the rules through a v1 emulator). A rule of type a
// matches every request, whatever its numbers and access, as "a" does in a v1 devices.allow or
// devices.deny. Throws CgroupError naming the rule for a type other than a, b or c, an access that
// is not a non-empty subset of "rwm", or a major or minor past 4294967295.
std::vector<bpf_insn> device_filter_program(const std::vector<oci::DeviceRule>& rules);

// Loads `program` as a BPF_PROG_TYPE_CGROUP_DEVICE program and returns its fd. Throws
// SystemError naming `cgroup2_directory` (the cgroup it is meant for) and BPF_PROG_LOAD, with
// the verifier's log in the message when the verifier refuses it.
Fd load_device_program(const std::vector<bpf_insn>& program,
                       const std::filesystem::path& cgroup2_directory);

// Attaches the loaded `program` to the cgroup2 directory (BPF_CGROUP_DEVICE, BPF_F_ALLOW_MULTI)
// in place of the device programs attached to it before: with BPF_F_REPLACE when there is one,
// so that no request is ever checked by neither program; otherwise (several, or a kernel before
// 5.6) the new one is attached first and the old ones detached after, so that meanwhile a request
// must pass both. Throws CgroupError when the directory is not in a cgroup2 hierarchy and
// SystemError naming it and the bpf(2) command otherwise.
void attach_device_program(const Fd& program, const std::filesystem::path& cgroup2_directory);

// Builds, loads and attaches the program for `rules` to the cgroup2 directory, replacing the one
// attached before. The cgroup keeps the program while it exists; removing it releases it.
void apply_device_filter(const std::filesystem::path& cgroup2_directory,
                         const std::vector<oci::DeviceRule>& rules);

} // namespace lcloud::runtime::cgroups

#pragma once

// Values the runtime writes to cgroup files, computed from the OCI resources the way runc and crun
// compute them, so that a config behaves the same under each runtime.

#include "runtime/oci/config.hpp"

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace lcloud::runtime::cgroups {

// cpu.weight (v2) for cpu.shares (v1): [2, 262144] maps onto [1, 10000], 1024 onto 39.
uint64_t shares_to_weight(uint64_t shares);

// io.weight (v2) for a blkio weight (v1): [10, 1000] maps onto [1, 10000].
uint64_t blkio_to_io_weight(uint64_t weight);

// memory.swap.max (v2) for OCI memory.swap, which counts memory + swap, and memory.limit: "max",
// a byte count, or nullopt to leave the file alone. Throws CgroupError when swap is set without
// a memory limit, or below it.
std::optional<std::string> v2_swap_value(std::optional<int64_t> swap, std::optional<int64_t> limit);

// cpu.max (v2): "<quota|max> <period>". A quota or period left out keeps its `current` value.
std::string cpu_max_value(std::optional<int64_t> quota, std::optional<uint64_t> period,
                          std::string_view current);

// A line for v1 devices.allow or devices.deny: "c 1:3 rwm", "b *:* r", "a". Throws CgroupError
// for a type other than a, b, c or an access other than a non-empty subset of "rwm".
std::string device_rule_line(const oci::DeviceRule& rule);

// The device rules runc and crun add to every container, after denying everything: /dev/null,
// zero, full, random, urandom, tty, console, ptmx and pts, plus mknod of any c or b device. The
// runtime appends these to the config's rules when it applies them.
std::vector<oci::DeviceRule> default_device_rules();

} // namespace lcloud::runtime::cgroups

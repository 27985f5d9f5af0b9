#include "runtime/cgroups/apply.hpp"
#include "runtime/cgroups/convert.hpp"

#include <algorithm>
#include <fmt/format.h>

namespace lcloud::runtime::cgroups::detail {

namespace fs = std::filesystem;

namespace {

using Directories = std::vector<Cgroup::Directory>;

const fs::path& need(const Directories& directories, std::string_view controller,
                     std::string_view resource) {
    for (const Cgroup::Directory& directory : directories)
        if (!directory.unified &&
            std::find(directory.controllers.begin(), directory.controllers.end(), controller) !=
                directory.controllers.end())
            return directory.path;
    throw CgroupError(fmt::format("linux.resources.{} needs the {} controller, and this cgroup "
                                  "has no directory in a v1 hierarchy with it (is one mounted? "
                                  "see /proc/self/mountinfo): mount it, or leave {} out",
                                  resource, controller, resource));
}

// OCI leaves 0 to mean "not set" for these, as runc reads them.
template <typename T> std::optional<T> set(const std::optional<T>& value) {
    if (value && *value != 0) return value;
    return std::nullopt;
}

void apply_devices(const oci::Resources& resources, const Directories& directories) {
    const bool mounted = std::any_of(directories.begin(), directories.end(), [](const auto& d) {
        return std::find(d.controllers.begin(), d.controllers.end(), "devices") !=
               d.controllers.end();
    });
    if (!mounted && resources.devices.empty()) return;
    const fs::path& directory = need(directories, "devices", "devices");
    std::vector<std::pair<bool, std::string>> lines;
    for (const oci::DeviceRule& rule : resources.devices)
        lines.emplace_back(rule.allow, device_rule_line(rule));
    // The rules are the whole list, as runc and crun read them: deny what they do not allow.
    write_value(directory / "devices.deny", "a");
    for (const auto& [allow, line] : lines)
        write_value(directory / (allow ? "devices.allow" : "devices.deny"), line,
                    "a v1 devices cgroup can allow only what its parent allows");
}

void apply_memory(const oci::MemoryResources& memory, const Directories& directories) {
    std::optional<int64_t> limit = set(memory.limit);
    std::optional<int64_t> swap = set(memory.swap);
    const std::optional<int64_t> reservation = set(memory.reservation);
    const bool oom_disable = memory.disable_oom_killer.value_or(false);
    const char* first = limit               ? "memory.limit"
                        : swap              ? "memory.swap"
                        : reservation       ? "memory.reservation"
                        : memory.swappiness ? "memory.swappiness"
                        : oom_disable       ? "memory.disableOOMKiller"
                                            : nullptr;
    // memory.kernel is left alone: kernels since 6.0 refuse v1 kmem limits, as runc ignores it.
    if (!first) return;
    const fs::path& directory = need(directories, "memory", first);
    for (const auto& [name, value] : {std::pair{"memory.limit", limit},
                                      {"memory.swap", swap},
                                      {"memory.reservation", reservation}})
        if (value && *value < -1)
            throw CgroupError(fmt::format("linux.resources.{} is {}: give -1 (unlimited) or a "
                                          "number of bytes",
                                          name, *value));
    if (limit && swap && *limit > 0 && *swap > 0 && *swap < *limit)
        throw CgroupError(fmt::format("linux.resources.memory.swap {} is below memory.limit {}: "
                                      "swap counts memory + swap, so it must be at least the limit",
                                      *swap, *limit));
    if (memory.swappiness && *memory.swappiness > 100)
        throw CgroupError(fmt::format("linux.resources.memory.swappiness {} is out of range: give "
                                      "0 to 100",
                                      *memory.swappiness));

    const fs::path limit_file = directory / "memory.limit_in_bytes";
    const fs::path swap_file = directory / "memory.memsw.limit_in_bytes";
    const bool swap_accounting = file_exists(swap_file);
    if (limit && *limit == -1 && !swap && swap_accounting) swap = -1;
    // Without swap accounting (swapaccount=0) the kernel cannot limit swap at all.
    if (!swap_accounting) swap.reset();
    const auto write_limit = [&] {
        write_value(limit_file, std::to_string(*limit),
                    "the limit must be at least the memory the cgroup uses now, and at most "
                    "memory.memsw.limit_in_bytes (memory.swap)");
    };
    const auto write_swap = [&] {
        write_value(swap_file, std::to_string(*swap),
                    "memory.swap counts memory + swap and must be at least memory.limit");
    };
    // The kernel keeps memory <= memory + swap at every step, so the order depends on whether
    // the limits grow or shrink.
    if (limit && swap) {
        const uint64_t current = std::stoull(read_value(limit_file).value_or("0"));
        if (*swap == -1 || current < static_cast<uint64_t>(*swap)) {
            write_swap();
            write_limit();
        } else {
            write_limit();
            write_swap();
        }
    } else if (limit) {
        write_limit();
    } else if (swap) {
        write_swap();
    }
    if (reservation)
        write_value(directory / "memory.soft_limit_in_bytes", std::to_string(*reservation));
    if (memory.swappiness)
        write_value(directory / "memory.swappiness", std::to_string(*memory.swappiness));
    if (oom_disable) write_value(directory / "memory.oom_control", "1");
}

void apply_cpu(const oci::CpuResources& cpu, const Directories& directories) {
    const std::optional<uint64_t> shares = set(cpu.shares);
    const std::optional<int64_t> quota = set(cpu.quota);
    const std::optional<uint64_t> period = set(cpu.period);
    if (shares || quota || period) {
        const fs::path& directory = need(directories, "cpu",
                                         shares  ? "cpu.shares"
                                         : quota ? "cpu.quota"
                                                 : "cpu.period");
        if (shares && (*shares < 2 || *shares > 262144))
            throw CgroupError(fmt::format("linux.resources.cpu.shares {} is out of range: give 2 "
                                          "to 262144 (1024 is the default weight)",
                                          *shares));
        if (shares) write_value(directory / "cpu.shares", std::to_string(*shares));
        const char* cfs_hint = "the quota must be -1 (unlimited) or at least 1000 µs, the period "
                               "1000 to 1000000 µs, and quota/period within the parent's";
        bool period_pending = bool(period);
        if (period) {
            // A shorter period can be refused until the quota shrinks too: retry after it.
            try {
                write_value(directory / "cpu.cfs_period_us", std::to_string(*period), cfs_hint);
                period_pending = false;
            } catch (const CgroupError& error) {
                if (error.error_number() != EINVAL || !quota) throw;
            }
        }
        if (quota) write_value(directory / "cpu.cfs_quota_us", std::to_string(*quota), cfs_hint);
        if (period_pending)
            write_value(directory / "cpu.cfs_period_us", std::to_string(*period), cfs_hint);
    }
    for (const auto& [name, value] : {std::pair{"cpus", &cpu.cpus}, {"mems", &cpu.mems}}) {
        if (value->empty()) continue;
        const fs::path& directory = need(directories, "cpuset", fmt::format("cpu.{}", name));
        const std::string file = fmt::format("cpuset.{}", name);
        write_value(directory / file, *value,
                    fmt::format("give a subset of the parent's {} ({})", file,
                                read_value(directory.parent_path() / file).value_or("?")));
    }
}

} // namespace

void apply_v1(const oci::Resources& resources, const Directories& directories) {
    if (!resources.unified.empty())
        throw CgroupError(fmt::format(
            "linux.resources.unified key \"{}\" is for cgroup v2, but this machine's resource "
            "controllers are cgroup v1 ones: leave unified empty, or use the v1 resources "
            "(memory, cpu, pids, blockIO, devices)",
            resources.unified.begin()->first));
    apply_devices(resources, directories);
    if (resources.memory) apply_memory(*resources.memory, directories);
    if (resources.cpu) apply_cpu(*resources.cpu, directories);
    if (resources.pids_limit) {
        const fs::path& directory = need(directories, "pids", "pids.limit");
        const int64_t limit = *resources.pids_limit;
        write_value(directory / "pids.max", limit > 0 ? std::to_string(limit) : "max");
    }
    if (const std::optional<uint16_t> weight = set(resources.block_io_weight)) {
        const fs::path& directory = need(directories, "blkio", "blockIO.weight");
        if (*weight < 10 || *weight > 1000)
            throw CgroupError(fmt::format("linux.resources.blockIO.weight {} is out of range: "
                                          "give 10 to 1000",
                                          *weight));
        fs::path file = directory / "blkio.weight";
        if (!file_exists(file)) file = directory / "blkio.bfq.weight";
        if (!file_exists(file))
            throw CgroupError(fmt::format(
                "linux.resources.blockIO.weight needs {}/blkio.weight or blkio.bfq.weight, which "
                "the kernel offers only with the CFQ or BFQ I/O scheduler: select bfq in "
                "/sys/block/<disk>/queue/scheduler, or leave blockIO.weight out",
                directory.string()));
        write_value(file, std::to_string(*weight));
    }
}

} // namespace lcloud::runtime::cgroups::detail

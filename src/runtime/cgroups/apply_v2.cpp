#include "runtime/cgroups/apply.hpp"
#include "runtime/cgroups/convert.hpp"
#include "runtime/cgroups/device_filter.hpp"

#include <algorithm>
#include <fmt/format.h>

namespace lcloud::runtime::cgroups::detail {

namespace fs = std::filesystem;

const std::vector<std::string> v2_controllers = {"cpu", "cpuset", "io", "memory", "pids"};

namespace {

template <typename T> std::optional<T> set(const std::optional<T>& value) {
    if (value && *value != 0) return value;
    return std::nullopt;
}

std::string bytes_or_max(int64_t value) {
    return value == -1 ? "max" : std::to_string(value);
}

class V2 {
  public:
    explicit V2(const fs::path& directory)
        : directory_(directory),
          available_(words(read_value(directory / "cgroup.controllers").value_or(""))) {}

    const fs::path& directory() const { return directory_; }

    bool has(std::string_view controller) const {
        return std::find(available_.begin(), available_.end(), controller) != available_.end();
    }

    // Throws unless `controller` is available for `resource`.
    void need(std::string_view controller, std::string_view resource) const {
        if (has(controller)) return;
        throw CgroupError(fmt::format(
            "linux.resources.{} needs the {} controller, which {} does not have (its "
            "cgroup.controllers lists {}): enable it in the parent's cgroup.subtree_control, "
            "or leave {} out",
            resource, controller, directory_.string(),
            available_.empty() ? "none" : fmt::format("{}", fmt::join(available_, " ")), resource));
    }

    void write(const std::string& file, std::string_view value, std::string_view hint = {}) const {
        write_value(directory_ / file, value, hint);
    }

  private:
    fs::path directory_;
    std::vector<std::string> available_;
};

void apply_memory(const oci::MemoryResources& memory, const V2& cgroup) {
    const std::optional<int64_t> limit = set(memory.limit);
    const std::optional<int64_t> reservation = set(memory.reservation);
    const std::optional<int64_t> swap = set(memory.swap);
    // swappiness and disableOOMKiller have no cgroup2 file; runc ignores them there too.
    if (!limit && !reservation && !swap) return;
    cgroup.need("memory", limit ? "memory.limit" : swap ? "memory.swap" : "memory.reservation");
    for (const auto& [name, value] : {std::pair{"memory.limit", limit},
                                      {"memory.swap", swap},
                                      {"memory.reservation", reservation}})
        if (value && *value < -1)
            throw CgroupError(fmt::format("linux.resources.{} is {}: give -1 (unlimited) or a "
                                          "number of bytes",
                                          name, *value));
    const std::optional<std::string> swap_max = v2_swap_value(swap, limit);
    // Without swap accounting there is no memory.swap.max, and no swap to limit.
    if (swap_max && file_exists(cgroup.directory() / "memory.swap.max"))
        cgroup.write("memory.swap.max", *swap_max);
    if (limit) cgroup.write("memory.max", bytes_or_max(*limit));
    if (reservation) cgroup.write("memory.low", bytes_or_max(*reservation));
}

void apply_cpu(const oci::CpuResources& cpu, const V2& cgroup) {
    const std::optional<uint64_t> shares = set(cpu.shares);
    const std::optional<int64_t> quota = set(cpu.quota);
    const std::optional<uint64_t> period = set(cpu.period);
    if (shares || quota || period)
        cgroup.need("cpu", shares ? "cpu.shares" : quota ? "cpu.quota" : "cpu.period");
    if (shares) {
        if (*shares < 2 || *shares > 262144)
            throw CgroupError(fmt::format("linux.resources.cpu.shares {} is out of range: give 2 "
                                          "to 262144 (1024 is the default weight)",
                                          *shares));
        cgroup.write("cpu.weight", std::to_string(shares_to_weight(*shares)));
    }
    if (quota || period) {
        const std::string current = read_value(cgroup.directory() / "cpu.max").value_or("");
        cgroup.write("cpu.max", cpu_max_value(quota, period, current),
                     "the quota must be -1 (unlimited) or at least 1000 µs, and the period 1000 "
                     "to 1000000 µs");
    }
    for (const auto& [name, value] : {std::pair{"cpus", &cpu.cpus}, {"mems", &cpu.mems}}) {
        if (value->empty()) continue;
        cgroup.need("cpuset", fmt::format("cpu.{}", name));
        const std::string file = fmt::format("cpuset.{}", name);
        const fs::path parent = cgroup.directory().parent_path() / (file + ".effective");
        cgroup.write(file, *value,
                     fmt::format("give a subset of the parent's {}.effective ({})", file,
                                 read_value(parent).value_or("?")));
    }
}

void apply_unified(const std::map<std::string, std::string>& unified, const V2& cgroup) {
    for (const auto& [key, value] : unified) {
        if (key.empty() || key.front() == '.' || key.find('/') != std::string::npos)
            throw CgroupError(fmt::format("linux.resources.unified key \"{}\" is not a cgroup file "
                                          "name such as \"memory.high\"",
                                          key));
        const std::string controller = key.substr(0, key.find('.'));
        if (!file_exists(cgroup.directory() / key)) {
            if (controller != "cgroup")
                cgroup.need(controller, fmt::format("unified key \"{}\"", key));
            throw CgroupError(fmt::format("linux.resources.unified key \"{}\": {} has no such "
                                          "file; see the cgroup v2 documentation for its files",
                                          key, cgroup.directory().string()));
        }
        cgroup.write(key, value);
    }
}

} // namespace

void apply_v2(const oci::Resources& resources, const fs::path& directory) {
    const V2 cgroup(directory);
    if (!resources.devices.empty()) apply_device_filter(directory, resources.devices);
    if (resources.memory) apply_memory(*resources.memory, cgroup);
    if (resources.cpu) apply_cpu(*resources.cpu, cgroup);
    if (resources.pids_limit) {
        cgroup.need("pids", "pids.limit");
        const int64_t limit = *resources.pids_limit;
        cgroup.write("pids.max", limit > 0 ? std::to_string(limit) : "max");
    }
    if (const std::optional<uint16_t> weight = set(resources.block_io_weight)) {
        cgroup.need("io", "blockIO.weight");
        if (*weight < 10 || *weight > 1000)
            throw CgroupError(fmt::format("linux.resources.blockIO.weight {} is out of range: "
                                          "give 10 to 1000",
                                          *weight));
        // BFQ takes the blkio value as is; io.weight has its own scale.
        if (file_exists(directory / "io.bfq.weight"))
            cgroup.write("io.bfq.weight", std::to_string(*weight));
        else
            cgroup.write("io.weight", std::to_string(blkio_to_io_weight(*weight)));
    }
    apply_unified(resources.unified, cgroup);
}

} // namespace lcloud::runtime::cgroups::detail

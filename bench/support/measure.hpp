#pragma once

// What the benchmarks measure besides time: medians, memory from /proc, allocated disk space.

#include <algorithm>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <set>
#include <string>
#include <sys/stat.h>
#include <utility>
#include <vector>

namespace lcloud::bench {

inline double median(std::vector<double> values) {
    if (values.empty()) return 0;
    std::sort(values.begin(), values.end());
    const size_t n = values.size();
    return n % 2 ? values[n / 2] : (values[n / 2 - 1] + values[n / 2]) / 2;
}

// The value below which `fraction` of the values lie (nearest rank).
inline double percentile(std::vector<double> values, double fraction) {
    if (values.empty()) return 0;
    std::sort(values.begin(), values.end());
    const size_t rank = static_cast<size_t>(fraction * static_cast<double>(values.size()));
    return values[std::min(rank, values.size() - 1)];
}

constexpr double kib = 1024.0, mib = 1024.0 * 1024.0;

// A /proc/meminfo field ("MemAvailable", "Slab", ...) in bytes; 0 when absent.
inline int64_t meminfo_bytes(const std::string& field) {
    std::ifstream meminfo("/proc/meminfo");
    for (std::string name; meminfo >> name;) {
        int64_t kb = 0;
        std::string unit;
        meminfo >> kb >> unit;
        if (name == field + ":") return kb * 1024;
    }
    return 0;
}

// A process's resident set (VmRSS) in bytes; 0 when it is gone.
inline int64_t rss_bytes(int pid) {
    std::ifstream status("/proc/" + std::to_string(pid) + "/status");
    for (std::string name; status >> name;) {
        if (name != "VmRSS:") continue;
        int64_t kb = 0;
        status >> kb;
        return kb * 1024;
    }
    return 0;
}

// A number from a one-value file (a cgroup's memory.usage_in_bytes); 0 when unreadable.
inline int64_t read_number(const std::filesystem::path& file) {
    int64_t value = 0;
    std::ifstream(file) >> value;
    return value;
}

// Bytes allocated to everything under `dir` (st_blocks * 512, as du counts), each inode once,
// without descending into other file systems: a container's rootfs is an overlay mount whose
// space is its upper directory's (counted) and the image's shared layers (not per container).
inline uint64_t allocated_bytes(const std::filesystem::path& dir) {
    namespace fs = std::filesystem;
    struct stat top {};
    if (::lstat(dir.c_str(), &top) != 0) return 0;
    std::set<std::pair<dev_t, ino_t>> seen{{top.st_dev, top.st_ino}};
    uint64_t total = static_cast<uint64_t>(top.st_blocks) * 512;
    std::error_code error;
    for (auto it = fs::recursive_directory_iterator(dir, error);
         !error && it != fs::recursive_directory_iterator(); it.increment(error)) {
        struct stat entry {};
        if (::lstat(it->path().c_str(), &entry) != 0) continue;
        if (entry.st_dev != top.st_dev) {
            it.disable_recursion_pending(); // a mount point: its own directory is hidden
            continue;
        }
        if (seen.insert({entry.st_dev, entry.st_ino}).second)
            total += static_cast<uint64_t>(entry.st_blocks) * 512;
    }
    return total;
}

} // namespace lcloud::bench

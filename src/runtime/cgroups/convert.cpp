#include "runtime/cgroups/convert.hpp"

#include "runtime/cgroups/files.hpp"

#include <fmt/format.h>

namespace lcloud::runtime::cgroups {

uint64_t shares_to_weight(uint64_t shares) {
    if (shares < 2) return 1;
    return 1 + ((shares - 2) * 9999) / 262142;
}

uint64_t blkio_to_io_weight(uint64_t weight) {
    if (weight < 10) return 1;
    return 1 + ((weight - 10) * 9999) / 990;
}

std::optional<std::string> v2_swap_value(std::optional<int64_t> swap,
                                         std::optional<int64_t> limit) {
    // An unlimited memory with no swap given means unlimited swap too, as on v1.
    if (!swap || *swap == 0) {
        if (limit && *limit == -1) return "max";
        return std::nullopt;
    }
    if (*swap == -1) return "max";
    if (!limit || *limit <= 0)
        throw CgroupError(fmt::format("memory swap {} is set without a memory limit: set "
                                      "memory.limit too (swap counts memory + swap)",
                                      *swap));
    if (*swap < *limit)
        throw CgroupError(fmt::format("memory swap {} is below the memory limit {}: swap counts "
                                      "memory + swap, so it must be at least the limit",
                                      *swap, *limit));
    return std::to_string(*swap - *limit);
}

std::string cpu_max_value(std::optional<int64_t> quota, std::optional<uint64_t> period,
                          std::string_view current) {
    std::string value;
    if (quota)
        value = *quota > 0 ? std::to_string(*quota) : "max";
    else
        value = std::string(current.substr(0, current.find(' ')));
    if (value.empty()) value = "max";
    if (period) value += " " + std::to_string(*period);
    return value;
}

std::string device_rule_line(const oci::DeviceRule& rule) {
    if (rule.type != "a" && rule.type != "b" && rule.type != "c")
        throw CgroupError(fmt::format("device rule type \"{}\" is not one of a (all), b (block) "
                                      "or c (character)",
                                      rule.type));
    if (rule.access.empty() || rule.access.find_first_not_of("rwm") != std::string::npos)
        throw CgroupError(
            fmt::format("device rule access \"{}\" must be made of r, w and m", rule.access));
    if (rule.type == "a") return "a";
    const auto number = [](const std::optional<int64_t>& value) {
        if (!value || *value < 0) return std::string("*");
        return std::to_string(*value);
    };
    return fmt::format("{} {}:{} {}", rule.type, number(rule.major), number(rule.minor),
                       rule.access);
}

std::vector<oci::DeviceRule> default_device_rules() {
    const auto allow = [](const char* type, std::optional<int64_t> major,
                          std::optional<int64_t> minor, const char* access) {
        return oci::DeviceRule{true, type, major, minor, access};
    };
    return {
        allow("c", std::nullopt, std::nullopt, "m"), // mknod, never open
        allow("b", std::nullopt, std::nullopt, "m"),
        allow("c", 1, 3, "rwm"),              // /dev/null
        allow("c", 1, 5, "rwm"),              // /dev/zero
        allow("c", 1, 7, "rwm"),              // /dev/full
        allow("c", 1, 8, "rwm"),              // /dev/random
        allow("c", 1, 9, "rwm"),              // /dev/urandom
        allow("c", 5, 0, "rwm"),              // /dev/tty
        allow("c", 5, 1, "rwm"),              // /dev/console
        allow("c", 5, 2, "rwm"),              // /dev/ptmx
        allow("c", 136, std::nullopt, "rwm"), // /dev/pts/*
    };
}

} // namespace lcloud::runtime::cgroups

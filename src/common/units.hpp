#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>

namespace lcloud {

using Duration = std::chrono::milliseconds;

inline constexpr uint64_t KiB = 1024;
inline constexpr uint64_t MiB = 1024 * KiB;
inline constexpr uint64_t GiB = 1024 * MiB;

// "2GiB", "512MiB", "512m", "1.5G"; a plain number is MiB. Units are binary, as in Docker.
// Throws InvalidValue saying what a valid size looks like.
uint64_t parse_size(std::string_view text);
std::string format_size(uint64_t bytes);

// Go/Compose durations: "500ms", "2s", "1m30s", "1h". A unit is required.
Duration parse_duration(std::string_view text);
std::string format_duration(Duration duration);

// A whole count of virtual CPUs (1..512).
int parse_vcpu_count(std::string_view text);
// A fractional CPU share for a container, as in Compose: "0.5", "2".
double parse_cpu_share(std::string_view text);

// A non-negative integer in [min, max]; `what` names the expected thing in the message.
long long parse_integer(std::string_view text, long long min, long long max);

} // namespace lcloud

#include "common/units.hpp"

#include "common/strings.hpp"

#include <charconv>
#include <cmath>
#include <fmt/format.h>

namespace lcloud {

namespace {

// Splits "12.5GiB" into 12.5 and "GiB"; nullopt when there is no leading number.
struct NumberAndUnit {
    double number;
    std::string_view unit;
    std::string_view digits;
};

std::optional<NumberAndUnit> split_number(std::string_view text) {
    size_t end = 0;
    bool seen_digit = false, seen_dot = false;
    while (end < text.size()) {
        const char c = text[end];
        if (c >= '0' && c <= '9')
            seen_digit = true;
        else if (c == '.' && !seen_dot)
            seen_dot = true;
        else
            break;
        ++end;
    }
    if (!seen_digit) return std::nullopt;
    double number = 0;
    const auto digits = text.substr(0, end);
    const auto [ptr, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), number);
    if (ec != std::errc() || ptr != digits.data() + digits.size()) return std::nullopt;
    return NumberAndUnit{number, trim(text.substr(end)), digits};
}

} // namespace

uint64_t parse_size(std::string_view text) {
    const auto hint = "expected a size such as 512MiB or 2GiB (a plain number is MiB; units: "
                      "B, KiB, MiB, GiB, TiB)";
    const auto parsed = split_number(trim(text));
    if (!parsed) throw InvalidValue(fmt::format("invalid size '{}': {}", text, hint));
    const std::string unit = to_lower(parsed->unit);
    uint64_t scale = 0;
    if (unit.empty())
        scale = MiB;
    else if (unit == "b")
        scale = 1;
    else if (unit == "k" || unit == "kb" || unit == "kib")
        scale = KiB;
    else if (unit == "m" || unit == "mb" || unit == "mib")
        scale = MiB;
    else if (unit == "g" || unit == "gb" || unit == "gib")
        scale = GiB;
    else if (unit == "t" || unit == "tb" || unit == "tib")
        scale = 1024 * GiB;
    else
        throw InvalidValue(
            fmt::format("invalid size '{}': unknown unit '{}'; {}", text, parsed->unit, hint));
    const double bytes = parsed->number * static_cast<double>(scale);
    if (bytes >= 1.8e19) throw InvalidValue(fmt::format("size '{}' is too large", text));
    return static_cast<uint64_t>(bytes);
}

std::string format_size(uint64_t bytes) {
    if (bytes != 0 && bytes % GiB == 0) return fmt::format("{}GiB", bytes / GiB);
    if (bytes != 0 && bytes % MiB == 0) return fmt::format("{}MiB", bytes / MiB);
    if (bytes != 0 && bytes % KiB == 0) return fmt::format("{}KiB", bytes / KiB);
    return fmt::format("{}B", bytes);
}

Duration parse_duration(std::string_view text) {
    const auto hint = "expected a duration such as 500ms, 2s, 1m or 1m30s (units: ms, s, m, h)";
    std::string_view rest = trim(text);
    if (rest.empty()) throw InvalidValue(fmt::format("empty duration: {}", hint));
    double total_ms = 0;
    while (!rest.empty()) {
        const auto parsed = split_number(rest);
        if (!parsed) throw InvalidValue(fmt::format("invalid duration '{}': {}", text, hint));
        rest.remove_prefix(parsed->digits.size());
        size_t unit_length = 0;
        while (unit_length < rest.size() &&
               std::isalpha(static_cast<unsigned char>(rest[unit_length])))
            ++unit_length;
        const auto unit = rest.substr(0, unit_length);
        rest.remove_prefix(unit_length);
        double scale_ms = 0;
        if (unit == "ms")
            scale_ms = 1;
        else if (unit == "s")
            scale_ms = 1000;
        else if (unit == "m")
            scale_ms = 60'000;
        else if (unit == "h")
            scale_ms = 3'600'000;
        else if (unit == "us" || unit == "ns")
            scale_ms = unit == "us" ? 1e-3 : 1e-6;
        else if (unit.empty())
            throw InvalidValue(
                fmt::format("duration '{}' needs a unit, for example '{}s'", text, parsed->digits));
        else
            throw InvalidValue(
                fmt::format("invalid duration '{}': unknown unit '{}'; {}", text, unit, hint));
        total_ms += parsed->number * scale_ms;
    }
    if (total_ms > 1e12) throw InvalidValue(fmt::format("duration '{}' is too long", text));
    return Duration(static_cast<long long>(std::llround(total_ms)));
}

std::string format_duration(Duration duration) {
    const long long ms = duration.count();
    if (ms != 0 && ms % 3'600'000 == 0) return fmt::format("{}h", ms / 3'600'000);
    if (ms != 0 && ms % 60'000 == 0) return fmt::format("{}m", ms / 60'000);
    if (ms % 1000 == 0) return fmt::format("{}s", ms / 1000);
    return fmt::format("{}ms", ms);
}

long long parse_integer(std::string_view text, long long min, long long max) {
    const auto trimmed = trim(text);
    long long value = 0;
    const auto [ptr, ec] = std::from_chars(trimmed.data(), trimmed.data() + trimmed.size(), value);
    if (ec == std::errc::result_out_of_range || (ec == std::errc() && (value < min || value > max)))
        throw InvalidValue(fmt::format("{} is out of range: expected a whole number from {} to {}",
                                       text, min, max));
    if (ec != std::errc() || ptr != trimmed.data() + trimmed.size() || trimmed.empty())
        throw InvalidValue(
            fmt::format("'{}' is not a whole number: expected one from {} to {}", text, min, max));
    return value;
}

int parse_vcpu_count(std::string_view text) {
    try {
        return static_cast<int>(parse_integer(text, 1, 512));
    } catch (const InvalidValue&) {
        throw InvalidValue(fmt::format(
            "invalid CPU count '{}': expected a whole number of CPUs from 1 to 512", text));
    }
}

double parse_cpu_share(std::string_view text) {
    const auto parsed = split_number(trim(text));
    if (!parsed || !parsed->unit.empty() || parsed->number <= 0 || parsed->number > 1024)
        throw InvalidValue(fmt::format(
            "invalid CPU count '{}': expected a number of CPUs above 0, such as 0.5 or 2", text));
    return parsed->number;
}

} // namespace lcloud

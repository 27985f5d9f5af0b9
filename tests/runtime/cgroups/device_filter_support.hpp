#pragma once

// What the device filter tests share: building rules and reading errors.

#include "common/error.hpp"
#include "runtime/oci/config.hpp"

#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace lcloud::test {

using Rules = std::vector<runtime::oci::DeviceRule>;

inline runtime::oci::DeviceRule rule(bool allow, std::string type,
                                     std::optional<int64_t> major = std::nullopt,
                                     std::optional<int64_t> minor = std::nullopt,
                                     std::string access = "rwm") {
    return {allow, std::move(type), major, minor, std::move(access)};
}

// The message of the lcloud::Error `action` throws, or "(no error)".
inline std::string error_of(const auto& action) {
    try {
        action();
    } catch (const Error& error) {
        return error.what();
    }
    return "(no error)";
}

inline bool contains(const std::string& text, const std::string& part) {
    return text.find(part) != std::string::npos;
}

} // namespace lcloud::test

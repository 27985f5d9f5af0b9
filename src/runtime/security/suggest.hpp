#pragma once

// Hints for a misspelt name in the config.

#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace lcloud::runtime::security {

// The entry of `names` closest to `word`, if close enough to be a likely typo. All names start
// with `prefix`, which is left out of the comparison, so that "RLIMIT_FOO" does not look like
// "RLIMIT_CPU" because of what every name shares.
std::optional<std::string> closest_name(std::string_view word,
                                        const std::vector<std::string_view>& names,
                                        std::string_view prefix);

} // namespace lcloud::runtime::security

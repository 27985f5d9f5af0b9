#pragma once

#include <functional>
#include <optional>
#include <string>
#include <string_view>

namespace lcloud::project {

using VariableLookup = std::function<std::optional<std::string>(std::string_view name)>;
using InterpolationWarning = std::function<void(std::string message)>;

// Compose's variable syntax: $VAR, ${VAR}, ${VAR:-default}, ${VAR-default}, ${VAR:?message},
// ${VAR?message}, ${VAR:+alternative}, ${VAR+alternative}, and $$ for a literal $. Defaults may
// nest variables. An unset variable without a default becomes "" with a warning, as in Compose.
// Throws InvalidValue for bad syntax or a required variable that is unset.
std::string interpolate(std::string_view text, const VariableLookup& lookup,
                        const InterpolationWarning& warn);

} // namespace lcloud::project

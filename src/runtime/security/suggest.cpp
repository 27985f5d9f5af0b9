#include "runtime/security/suggest.hpp"

#include "common/strings.hpp"

namespace lcloud::runtime::security {

std::optional<std::string> closest_name(std::string_view word,
                                        const std::vector<std::string_view>& names,
                                        std::string_view prefix) {
    if (starts_with_icase(word, prefix)) word.remove_prefix(prefix.size());
    std::vector<std::string> stems;
    for (const auto name : names)
        stems.push_back(to_lower(name.substr(name.starts_with(prefix) ? prefix.size() : 0)));
    const std::vector<std::string_view> candidates(stems.begin(), stems.end());
    const auto stem = closest_match(word, candidates);
    if (!stem) return std::nullopt;
    for (size_t i = 0; i < names.size(); ++i)
        if (stems[i] == *stem) return std::string(names[i]);
    return std::nullopt;
}

} // namespace lcloud::runtime::security

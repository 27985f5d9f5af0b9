#include "project/interpolate.hpp"

#include "common/strings.hpp"
#include "project/dotenv.hpp"

#include <cctype>
#include <fmt/format.h>

namespace lcloud::project {

namespace {

constexpr int max_nesting = 16;

struct Interpolator {
    const VariableLookup& lookup;
    const InterpolationWarning& warn;

    std::string expand(std::string_view text, int depth) const {
        if (depth > max_nesting)
            throw InvalidValue("variables are nested too deeply (more than 16 levels)");
        std::string out;
        for (size_t i = 0; i < text.size(); ++i) {
            if (text[i] != '$') {
                out += text[i];
                continue;
            }
            if (i + 1 >= text.size()) {
                out += '$';
                continue;
            }
            const char next = text[i + 1];
            if (next == '$') {
                out += '$';
                ++i;
            } else if (next == '{') {
                const size_t close = matching_brace(text, i + 1);
                out += expand_braced(text.substr(i + 2, close - i - 2), depth);
                i = close;
            } else if (std::isalpha(static_cast<unsigned char>(next)) || next == '_') {
                size_t end = i + 1;
                while (end < text.size() &&
                       (std::isalnum(static_cast<unsigned char>(text[end])) || text[end] == '_'))
                    ++end;
                out += value_or_warn(text.substr(i + 1, end - i - 1));
                i = end - 1;
            } else {
                out += '$';
            }
        }
        return out;
    }

    static size_t matching_brace(std::string_view text, size_t open) {
        int depth = 0;
        for (size_t i = open; i < text.size(); ++i) {
            if (text[i] == '{')
                ++depth;
            else if (text[i] == '}' && --depth == 0)
                return i;
        }
        throw InvalidValue(fmt::format("'{}' has a '${{' without its closing '}}'; write $$ for a "
                                       "literal $",
                                       text));
    }

    std::string value_or_warn(std::string_view name) const {
        if (auto value = lookup(name)) return *value;
        warn(fmt::format("variable {} is not set; using an empty string (set it in the "
                         "environment or in .env, or write ${{{}:-default}})",
                         name, name));
        return {};
    }

    std::string expand_braced(std::string_view body, int depth) const {
        size_t name_end = 0;
        while (name_end < body.size() &&
               (std::isalnum(static_cast<unsigned char>(body[name_end])) || body[name_end] == '_'))
            ++name_end;
        const auto name = body.substr(0, name_end);
        if (!is_variable_name(name))
            throw InvalidValue(fmt::format("invalid variable '${{{}}}': a name is letters, digits "
                                           "and '_', not starting with a digit",
                                           body));
        const auto operation = body.substr(name_end);
        if (operation.empty()) return value_or_warn(name);

        const bool colon = operation.front() == ':';
        const auto op = operation.substr(colon ? 1 : 0);
        if (op.empty() || std::string_view("-?+").find(op.front()) == std::string_view::npos)
            throw InvalidValue(fmt::format("invalid variable '${{{}}}': expected ${{{}}}, "
                                           "${{{}:-default}} or ${{{}:?message}}",
                                           body, name, name, name));
        const auto argument = op.substr(1);
        const auto value = lookup(name);
        // With a colon an empty value counts as unset, as in the shell.
        const bool set = value && (!colon || !value->empty());
        switch (op.front()) {
        case '-':
            return set ? *value : expand(argument, depth + 1);
        case '+':
            return set ? expand(argument, depth + 1) : std::string();
        default: // '?'
            if (set) return *value;
            throw InvalidValue(fmt::format("required variable {} is not set: {}", name,
                                           argument.empty() ? std::string("set it in the "
                                                                          "environment or in .env")
                                                            : expand(argument, depth + 1)));
        }
    }
};

} // namespace

std::string interpolate(std::string_view text, const VariableLookup& lookup,
                        const InterpolationWarning& warn) {
    if (text.find('$') == std::string_view::npos) return std::string(text);
    return Interpolator{lookup, warn}.expand(text, 0);
}

} // namespace lcloud::project

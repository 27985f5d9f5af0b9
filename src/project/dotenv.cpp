#include "project/dotenv.hpp"

#include "common/strings.hpp"

#include <cctype>
#include <fmt/format.h>

namespace lcloud::project {

bool is_variable_name(std::string_view name) {
    if (name.empty() || std::isdigit(static_cast<unsigned char>(name.front()))) return false;
    for (const unsigned char c : name)
        if (!std::isalnum(c) && c != '_') return false;
    return true;
}

static std::string unquote_double(std::string_view body) {
    std::string value;
    for (size_t i = 0; i < body.size(); ++i) {
        if (body[i] == '\\' && i + 1 < body.size()) {
            const char next = body[++i];
            value += next == 'n' ? '\n' : next == 't' ? '\t' : next == 'r' ? '\r' : next;
        } else {
            value += body[i];
        }
    }
    return value;
}

std::map<std::string, std::string> parse_dotenv(std::string_view text) {
    std::map<std::string, std::string> values;
    int line_number = 0;
    for (const auto& raw_line : split(text, '\n')) {
        ++line_number;
        std::string_view line = trim(raw_line);
        if (line.empty() || line.front() == '#') continue;
        if (line.starts_with("export ")) line = trim(line.substr(7));
        const auto equals = line.find('=');
        const auto key = trim(line.substr(0, equals));
        if (equals == std::string_view::npos || !is_variable_name(key))
            throw InvalidValue(
                fmt::format("line {}: expected KEY=value, got '{}'", line_number, line));
        std::string_view value = trim(line.substr(equals + 1));
        if (!value.empty() && (value.front() == '"' || value.front() == '\'')) {
            const char quote = value.front();
            size_t close = 1;
            while (close < value.size() &&
                   (value[close] != quote || (quote == '"' && value[close - 1] == '\\')))
                ++close;
            if (close >= value.size())
                throw InvalidValue(fmt::format("line {}: the value of {} has no closing {}",
                                               line_number, key, quote));
            const auto body = value.substr(1, close - 1);
            values[std::string(key)] = quote == '"' ? unquote_double(body) : std::string(body);
            continue;
        }
        if (const auto comment = value.find(" #"); comment != std::string_view::npos)
            value = trim(value.substr(0, comment));
        values[std::string(key)] = std::string(value);
    }
    return values;
}

} // namespace lcloud::project

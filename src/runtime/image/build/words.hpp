#pragma once

// The words of a Containerfile instruction, as Docker's shell lexer reads them: quotes, the
// escape character, and the variable forms $VAR, ${VAR}, ${VAR:-word}, ${VAR-word},
// ${VAR:+word}, ${VAR+word}, ${VAR:?message}, ${VAR?message}. Errors throw lcloud::InvalidValue
// (common/strings.hpp); the caller adds the file and line.

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace lcloud::runtime::image::build {

// A variable's value; nullopt when it is not set.
using Lookup = std::function<std::optional<std::string>(std::string_view name)>;

// Expands variables and removes quotes and escapes. Unquoted whitespace separates words, also
// inside an unquoted expansion's value; `""` is an empty word.
std::vector<std::string> expand_words(std::string_view text, const Lookup& lookup, char escape);

// The same for text that stays one word (an ENV value, WORKDIR): whitespace is kept.
std::string expand_word(std::string_view text, const Lookup& lookup, char escape);

// Splits on unquoted whitespace, keeping quotes and escapes as written (to split `K=V K2="a b"`
// before each value is expanded).
std::vector<std::string> split_raw(std::string_view text, char escape);

// A Go duration ("30s", "1m30s", "1.5h", "250ms", "0") in nanoseconds.
int64_t parse_duration(std::string_view text);

} // namespace lcloud::runtime::image::build

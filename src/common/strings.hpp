#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace lcloud {

std::string_view trim(std::string_view text);
std::vector<std::string> split(std::string_view text, char separator);
bool starts_with_icase(std::string_view text, std::string_view prefix);
std::string to_lower(std::string_view text);

// The candidate closest to `word` by edit distance, if close enough to be a likely typo.
std::optional<std::string> closest_match(std::string_view word,
                                         const std::vector<std::string_view>& candidates);

// Splits a command line as a POSIX shell would (quotes and backslashes, no expansion), the way
// Compose turns `command: "a 'b c'"` into arguments. Throws InvalidValue on an open quote.
std::vector<std::string> shell_split(std::string_view text);

// Quotes an argument for display in a shell-like command line.
std::string shell_quote(std::string_view argument);

// A value is wrong; the message says what would be right. The caller adds where.
class InvalidValue {
  public:
    explicit InvalidValue(std::string message) : message_(std::move(message)) {}
    const std::string& message() const { return message_; }

  private:
    std::string message_;
};

} // namespace lcloud

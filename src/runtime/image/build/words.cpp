#include "runtime/image/build/words.hpp"

#include "common/strings.hpp"

#include <cmath>

namespace lcloud::runtime::image::build {

namespace {

bool is_space(char c) {
    return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

bool is_name_start(char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_';
}

bool is_name_char(char c) {
    return is_name_start(c) || (c >= '0' && c <= '9');
}

class Expander {
  public:
    Expander(std::string_view text, const Lookup& lookup, char escape, bool split)
        : text_(text), lookup_(lookup), escape_(escape), split_(split) {}

    std::vector<std::string> run() {
        while (pos_ < text_.size()) {
            const char c = text_[pos_];
            if (split_ && is_space(c)) {
                end_word();
                ++pos_;
            } else if (c == escape_) {
                ++pos_;
                append(pos_ < text_.size() ? text_[pos_++] : escape_);
            } else if (c == '\'') {
                single_quoted();
            } else if (c == '"') {
                double_quoted();
            } else if (c == '$') {
                append_expansion(dollar(), split_);
            } else {
                append(c);
                ++pos_;
            }
        }
        end_word();
        return std::move(words_);
    }

  private:
    void append(char c) {
        current_ += c;
        in_word_ = true;
    }

    void end_word() {
        if (in_word_) words_.push_back(std::move(current_));
        current_.clear();
        in_word_ = false;
    }

    // An unquoted expansion is split into words, as the shell does.
    void append_expansion(const std::string& value, bool split) {
        for (char c : value) {
            if (split && is_space(c))
                end_word();
            else
                append(c);
        }
    }

    void single_quoted() {
        const size_t close = text_.find('\'', pos_ + 1);
        if (close == std::string_view::npos) throw InvalidValue("unexpected end: missing '");
        in_word_ = true;
        current_.append(text_.substr(pos_ + 1, close - pos_ - 1));
        pos_ = close + 1;
    }

    void double_quoted() {
        in_word_ = true;
        ++pos_;
        while (pos_ < text_.size() && text_[pos_] != '"') {
            const char c = text_[pos_];
            if (c == escape_ && pos_ + 1 < text_.size()) {
                const char next = text_[pos_ + 1];
                // Only these can be escaped inside double quotes; other escapes stay as written.
                if (next == '"' || next == '$' || next == escape_) {
                    current_ += next;
                    pos_ += 2;
                    continue;
                }
            }
            if (c == '$') {
                append_expansion(dollar(), false);
                continue;
            }
            current_ += c;
            ++pos_;
        }
        if (pos_ >= text_.size()) throw InvalidValue("unexpected end: missing \"");
        ++pos_;
    }

    std::string value_of(std::string_view name) const {
        return lookup_(name).value_or(std::string());
    }

    // At '$': the expansion's value; pos_ moves past it.
    std::string dollar() {
        ++pos_;
        if (pos_ >= text_.size()) return "$";
        const char c = text_[pos_];
        if (c == '{') return braced();
        if (is_name_start(c)) {
            const size_t start = pos_;
            while (pos_ < text_.size() && is_name_char(text_[pos_]))
                ++pos_;
            return value_of(text_.substr(start, pos_ - start));
        }
        if (c >= '0' && c <= '9') {
            ++pos_;
            return ""; // positional parameters are never set in a build
        }
        return "$";
    }

    std::string braced() {
        ++pos_;
        const size_t start = pos_;
        while (pos_ < text_.size() && is_name_char(text_[pos_]))
            ++pos_;
        const std::string name(text_.substr(start, pos_ - start));
        if (pos_ >= text_.size()) throw InvalidValue("missing '}' in ${" + name);
        if (name.empty()) throw InvalidValue("bad substitution: a name must follow ${");
        if (text_[pos_] == '}') {
            ++pos_;
            return value_of(name);
        }
        bool colon = false;
        if (text_[pos_] == ':') {
            colon = true;
            ++pos_;
        }
        if (pos_ >= text_.size()) throw InvalidValue("missing '}' in ${" + name);
        const char op = text_[pos_];
        if (op != '-' && op != '+' && op != '?')
            throw InvalidValue("bad substitution ${" + name + (colon ? ":" : "") + op +
                               "...}; the forms are ${NAME:-word}, ${NAME:+word} and " +
                               "${NAME:?message}");
        ++pos_;
        const std::string word = expand_word(word_until_brace(name), lookup_, escape_);
        const std::optional<std::string> value = lookup_(name);
        const bool set = colon ? value && !value->empty() : value.has_value();
        if (op == '-') return set ? *value : word;
        if (op == '+') return set ? word : "";
        if (!set) throw InvalidValue(name + ": " + (word.empty() ? "is not set" : word));
        return *value;
    }

    // The raw word of ${NAME:-word}, up to its matching '}'.
    std::string_view word_until_brace(const std::string& name) {
        const size_t start = pos_;
        int depth = 0;
        while (pos_ < text_.size()) {
            const char c = text_[pos_];
            if (c == escape_) {
                pos_ += 2;
                continue;
            }
            if (c == '{') ++depth;
            if (c == '}' && depth-- == 0) {
                const std::string_view word = text_.substr(start, pos_ - start);
                ++pos_;
                return word;
            }
            ++pos_;
        }
        throw InvalidValue("missing '}' in ${" + name);
    }

    std::string_view text_;
    const Lookup& lookup_;
    char escape_;
    bool split_;
    size_t pos_ = 0;
    std::string current_;
    bool in_word_ = false;
    std::vector<std::string> words_;
};

} // namespace

std::vector<std::string> expand_words(std::string_view text, const Lookup& lookup, char escape) {
    return Expander(text, lookup, escape, true).run();
}

std::string expand_word(std::string_view text, const Lookup& lookup, char escape) {
    auto words = Expander(text, lookup, escape, false).run();
    return words.empty() ? std::string() : std::move(words.front());
}

std::vector<std::string> split_raw(std::string_view text, char escape) {
    std::vector<std::string> words;
    std::string current;
    bool in_word = false;
    char quote = 0;
    for (size_t i = 0; i < text.size(); ++i) {
        const char c = text[i];
        if (!quote && is_space(c)) {
            if (in_word) words.push_back(std::move(current));
            current.clear();
            in_word = false;
            continue;
        }
        in_word = true;
        current += c;
        if (c == escape && quote != '\'' && i + 1 < text.size()) {
            current += text[++i];
        } else if (quote && c == quote) {
            quote = 0;
        } else if (!quote && (c == '"' || c == '\'')) {
            quote = c;
        }
    }
    if (quote) throw InvalidValue(std::string("unexpected end: missing ") + quote);
    if (in_word) words.push_back(std::move(current));
    return words;
}

int64_t parse_duration(std::string_view text) {
    const std::string shown(text);
    const auto bad = [&shown]() {
        return InvalidValue("'" + shown +
                            "' is not a duration; write a number and a unit, e.g. 30s, 1m30s, "
                            "500ms, 1h (units ns, us, ms, s, m, h)");
    };
    if (text == "0") return 0;
    if (text.empty()) throw bad();
    double total = 0;
    size_t pos = 0;
    while (pos < text.size()) {
        const size_t start = pos;
        while (pos < text.size() && ((text[pos] >= '0' && text[pos] <= '9') || text[pos] == '.'))
            ++pos;
        if (pos == start) throw bad();
        double number = 0;
        try {
            number = std::stod(std::string(text.substr(start, pos - start)));
        } catch (const std::exception&) {
            throw bad();
        }
        const size_t unit_start = pos;
        while (pos < text.size() && !((text[pos] >= '0' && text[pos] <= '9') || text[pos] == '.'))
            ++pos;
        const std::string_view unit = text.substr(unit_start, pos - unit_start);
        double scale = 0;
        if (unit == "ns")
            scale = 1;
        else if (unit == "us" || unit == "\xc2\xb5s" || unit == "\xce\xbcs")
            scale = 1e3;
        else if (unit == "ms")
            scale = 1e6;
        else if (unit == "s")
            scale = 1e9;
        else if (unit == "m")
            scale = 60e9;
        else if (unit == "h")
            scale = 3600e9;
        else
            throw bad();
        total += number * scale;
    }
    if (total > 9.2e18) throw bad();
    return static_cast<int64_t>(std::llround(total));
}

} // namespace lcloud::runtime::image::build

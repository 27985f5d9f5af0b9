#include "runtime/oci/json_reader.hpp"

#include "runtime/oci/config_parse.hpp"

#include <fmt/format.h>

namespace lcloud::runtime::oci {

namespace {

// --- Where a syntax error is ---------------------------------------------------------------

bool is_word_char(char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '+' ||
           c == '-' || c == '.';
}

bool is_space(char c) {
    return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

struct Token {
    size_t begin = 0;
    size_t end = 0;      // one past the last byte
    bool word = false;   // a number or a literal: true, false, null, or a misspelling of one
    bool string = false; // from its opening quote to its closing one
};

// The tokens of `text` up to `limit`, as JSON's lexer would cut them. Whitespace is skipped.
std::vector<Token> tokens_up_to(std::string_view text, size_t limit) {
    std::vector<Token> tokens;
    size_t i = 0;
    while (i < text.size() && i <= limit) {
        const char c = text[i];
        if (is_space(c)) {
            ++i;
        } else if (c == '"') {
            size_t end = i + 1;
            while (end < text.size() && text[end] != '"')
                end += text[end] == '\\' ? 2 : 1;
            end = std::min(end + 1, text.size());
            tokens.push_back({i, end, false, true});
            i = end;
        } else if (is_word_char(c)) {
            size_t end = i;
            while (end < text.size() && is_word_char(text[end]))
                ++end;
            tokens.push_back({i, end, true, false});
            i = end;
        } else {
            tokens.push_back({i, i + 1, false, false});
            ++i;
        }
    }
    return tokens;
}

// nlohmann's parse_error gives the byte index of the last character its lexer read, which is
// often past the token at fault ("f\n" for a stray f, the closing quote of an unexpected
// string). Point at the start of the token instead, except inside a string, where the offending
// character itself (a control character, a bad escape) is the most useful place.
size_t error_offset(std::string_view text, size_t last_read, std::string_view message) {
    if (last_read >= text.size()) return text.size();
    if (message.find("invalid string") != std::string_view::npos) return last_read;
    const bool bad_word = message.find("invalid literal") != std::string_view::npos ||
                          message.find("invalid number") != std::string_view::npos;
    for (const auto& token : tokens_up_to(text, last_read)) {
        if (token.begin <= last_read && last_read < token.end && (token.word || token.string))
            return token.begin;
        // The lexer read one character past a bad literal or number to know it was bad.
        if (bad_word && token.word && token.end == last_read) return token.begin;
    }
    return last_read;
}

// Line and column (in characters, not bytes) of a byte offset, both from 1.
std::pair<size_t, size_t> line_and_column(std::string_view text, size_t offset) {
    size_t line = 1, column = 1;
    for (size_t i = 0; i < offset && i < text.size(); ++i) {
        if (text[i] == '\n') {
            ++line;
            column = 1;
        } else if ((static_cast<unsigned char>(text[i]) & 0xC0) != 0x80) {
            ++column; // not a UTF-8 continuation byte
        }
    }
    return {line, column};
}

// nlohmann's message without its prefix ("[json.exception.parse_error.101] parse error at line
// 1, column 2: ") and without "; last read: '...'", which shows raw bytes of the input.
std::string syntax_message(std::string message) {
    for (const std::string_view marker : {"parse error", "out_of_range.406] "}) {
        if (const auto at = message.find(marker); at != std::string::npos) {
            message.erase(0, at + marker.size());
            break;
        }
    }
    if (message.starts_with(" at line ")) {
        if (const auto colon = message.find(": "); colon != std::string::npos)
            message.erase(0, colon + 2);
    } else if (message.starts_with(": ")) {
        message.erase(0, 2);
    }
    if (const auto last_read = message.find("; last read: '"); last_read != std::string::npos) {
        const auto expected = message.find("'; expected", last_read);
        message.erase(last_read,
                      expected == std::string::npos ? std::string::npos : expected + 1 - last_read);
    }
    return message;
}

bool is_identifier(std::string_view key) {
    if (key.empty() || (key[0] >= '0' && key[0] <= '9')) return false;
    for (const char c : key)
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '_'))
            return false;
    return true;
}

std::string json_quoted(std::string_view text) {
    return Json(std::string(text)).dump(-1, ' ', false, Json::error_handler_t::replace);
}

} // namespace

Json parse_json_document(std::string_view text, std::string_view file_name) {
    if (text.find_first_not_of(" \t\r\n") == std::string_view::npos)
        throw ConfigError(fmt::format("{}: the file is empty; expected a JSON object such as "
                                      "{{\"ociVersion\": \"1.0.2\", ...}}",
                                      file_name));
    try {
        return Json::parse(text);
    } catch (const Json::parse_error& error) {
        const std::string message = syntax_message(error.what());
        const size_t last_read = error.byte == 0 ? 0 : error.byte - 1;
        const auto [line, column] = line_and_column(text, error_offset(text, last_read, message));
        throw ConfigError(fmt::format("{}: line {}, column {}: invalid JSON: {}", file_name, line,
                                      column, message));
    } catch (const Json::out_of_range& error) {
        // A number too large for a double ("number overflow parsing '1e400'"): find it.
        const std::string message = syntax_message(error.what());
        size_t offset = 0;
        if (const auto open = message.find('\''); open != std::string::npos) {
            const auto number = message.substr(open + 1, message.rfind('\'') - open - 1);
            for (const auto& token : tokens_up_to(text, text.size()))
                if (token.word && text.substr(token.begin, token.end - token.begin) == number) {
                    offset = token.begin;
                    break;
                }
        }
        const auto [line, column] = line_and_column(text, offset);
        throw ConfigError(fmt::format("{}: line {}, column {}: invalid JSON: {}", file_name, line,
                                      column, message));
    }
}

std::string describe(const Json& value) {
    switch (value.type()) {
    case Json::value_t::array:
        return "an array";
    case Json::value_t::object:
        return "an object";
    case Json::value_t::string: {
        const auto& text = value.get_ref<const std::string&>();
        constexpr size_t shown = 60;
        if (text.size() <= shown) return json_quoted(text);
        size_t cut = shown; // not inside a UTF-8 sequence
        while (cut > 0 && (static_cast<unsigned char>(text[cut]) & 0xC0) == 0x80)
            --cut;
        return json_quoted(text.substr(0, cut) + "...");
    }
    default:
        return value.dump();
    }
}

std::string join_names(const std::vector<std::string_view>& names) {
    return fmt::format("{}", fmt::join(names, ", "));
}

void JsonNode::fail(std::string_view what) const {
    if (path_.empty()) throw ConfigError(fmt::format("{}: {}", file_name_, what));
    throw ConfigError(fmt::format("{}: {}: {}", file_name_, path_, what));
}

JsonNode JsonNode::child(std::string_view key) const {
    std::string path = path_;
    if (is_identifier(key))
        path += (path.empty() ? "" : ".") + std::string(key);
    else
        path += "[" + json_quoted(key) + "]";
    static const Json null_value;
    const auto found = value_->find(key);
    return JsonNode(found == value_->end() ? null_value : *found, std::move(path), file_name_);
}

void JsonNode::expect_object() const {
    if (!value_->is_object()) fail("expected an object, got " + describe(*value_));
}

std::optional<JsonNode> JsonNode::get(std::string_view key) const {
    expect_object();
    JsonNode node = child(key);
    if (node.json().is_null()) return std::nullopt;
    return node;
}

JsonNode JsonNode::require(std::string_view key, std::string_view expected) const {
    expect_object();
    JsonNode node = child(key);
    if (node.json().is_null()) node.fail("is missing; expected " + std::string(expected));
    return node;
}

std::vector<std::pair<std::string, JsonNode>> JsonNode::members() const {
    expect_object();
    std::vector<std::pair<std::string, JsonNode>> result;
    for (const auto& [key, value] : value_->items())
        result.emplace_back(key, child(key));
    return result;
}

std::vector<JsonNode> JsonNode::elements() const {
    if (!value_->is_array()) fail("expected an array, got " + describe(*value_));
    std::vector<JsonNode> result;
    result.reserve(value_->size());
    for (size_t i = 0; i < value_->size(); ++i)
        result.emplace_back((*value_)[i], fmt::format("{}[{}]", path_, i), file_name_);
    return result;
}

std::string JsonNode::string() const {
    if (!value_->is_string()) fail("expected a string, got " + describe(*value_));
    return value_->get<std::string>();
}

bool JsonNode::boolean() const {
    if (!value_->is_boolean()) fail("expected true or false, got " + describe(*value_));
    return value_->get<bool>();
}

uint64_t JsonNode::unsigned_integer(uint64_t max) const {
    if (!value_->is_number_unsigned())
        fail("expected a non-negative integer, got " + describe(*value_));
    const auto value = value_->get<uint64_t>();
    if (value > max)
        fail(fmt::format("expected a non-negative integer up to {}, got {}", max, value));
    return value;
}

int64_t JsonNode::integer(int64_t min, int64_t max) const {
    if (!value_->is_number_integer()) fail("expected an integer, got " + describe(*value_));
    const bool too_large = value_->is_number_unsigned() &&
                           value_->get<uint64_t>() > static_cast<uint64_t>(max < 0 ? 0 : max);
    if (too_large || value_->get<int64_t>() < min || value_->get<int64_t>() > max)
        fail(fmt::format("expected an integer from {} to {}, got {}", min, max, value_->dump()));
    return value_->get<int64_t>();
}

std::string JsonNode::absolute_path() const {
    std::string value = string();
    if (!value.starts_with('/')) fail("must be an absolute path, got " + describe(*value_));
    return value;
}

std::vector<std::string> JsonNode::strings() const {
    std::vector<std::string> result;
    for (const auto& element : elements())
        result.push_back(element.string());
    return result;
}

std::map<std::string, std::string> JsonNode::string_map() const {
    std::map<std::string, std::string> result;
    for (const auto& [key, value] : members())
        result.emplace(key, value.string());
    return result;
}

} // namespace lcloud::runtime::oci

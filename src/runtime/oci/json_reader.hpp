#pragma once

// What config_parse.cpp reads a JSON document with: every value knows its JSON path
// ("linux.namespaces[2].type"), so that every complaint can say where it is. Internal to
// runtime/oci.

#include <cstdint>
#include <limits>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace lcloud::runtime::oci {

using Json = nlohmann::json;

// Parses `text`; throws ConfigError "FILE: line L, column C: invalid JSON: ..." (or "FILE: the
// file is empty; ...").
Json parse_json_document(std::string_view text, std::string_view file_name);

// How a value is shown in a message: strings and numbers as JSON ("abc" in quotes, 12), arrays
// and objects by their kind.
std::string describe(const Json& value);

// A value of the document and where it is. Every accessor checks the value's type and throws
// ConfigError "FILE: PATH: expected ..., got ..." when it does not fit.
class JsonNode {
  public:
    JsonNode(const Json& value, std::string path, std::string_view file_name)
        : value_(&value), path_(std::move(path)), file_name_(file_name) {}

    const Json& json() const { return *value_; }
    const std::string& path() const { return path_; }

    // "FILE: PATH: what" (or "FILE: what" for the document itself).
    [[noreturn]] void fail(std::string_view what) const;

    // Objects. A key that is absent or null gives nullopt.
    void expect_object() const;
    std::optional<JsonNode> get(std::string_view key) const;
    // Fails "PATH.KEY: is missing; expected EXPECTED" when absent or null.
    JsonNode require(std::string_view key, std::string_view expected) const;
    // Each key and its value, sorted by key.
    std::vector<std::pair<std::string, JsonNode>> members() const;

    // Arrays.
    std::vector<JsonNode> elements() const;

    // Scalars.
    std::string string() const;
    bool boolean() const;
    // A non-negative integer no larger than `max`.
    uint64_t unsigned_integer(uint64_t max = std::numeric_limits<uint64_t>::max()) const;
    uint32_t uint32() const { return static_cast<uint32_t>(unsigned_integer(UINT32_MAX)); }
    int64_t integer(int64_t min = std::numeric_limits<int64_t>::min(),
                    int64_t max = std::numeric_limits<int64_t>::max()) const;
    // A string that begins with '/'.
    std::string absolute_path() const;

    // An array of strings; an object whose values are strings.
    std::vector<std::string> strings() const;
    std::map<std::string, std::string> string_map() const;

  private:
    JsonNode child(std::string_view key) const;

    const Json* value_;
    std::string path_;
    std::string_view file_name_;
};

// One of `names`, or a failure "unknown WHAT "VALUE"; expected one of A, B, C".
template <typename Names>
std::string one_of(const JsonNode& node, std::string_view what, const Names& names);

// "a, b, c" for the messages.
std::string join_names(const std::vector<std::string_view>& names);

template <typename Names>
std::string one_of(const JsonNode& node, std::string_view what, const Names& names) {
    std::string value = node.string();
    std::vector<std::string_view> list;
    for (const auto& name : names) {
        if (value == name) return value;
        list.emplace_back(name);
    }
    node.fail("unknown " + std::string(what) + " " + describe(node.json()) + "; expected one of " +
              join_names(list));
}

} // namespace lcloud::runtime::oci

#pragma once

#include "common/strings.hpp"
#include "project/diagnostics.hpp"
#include "project/interpolate.hpp"

#include <optional>
#include <string>
#include <vector>
#include <yaml-cpp/yaml.h>

namespace lcloud::project {

struct MapEntry {
    std::string key;
    SourceLocation key_where;
    YAML::Node value;
};

// Reads values out of a parsed YAML tree, reporting each problem at its line and column and
// carrying on, so that one pass finds every error. Scalars are interpolated (${VAR}).
class YamlReader {
  public:
    YamlReader(Diagnostics& diagnostics, VariableLookup variables)
        : diagnostics_(diagnostics), variables_(std::move(variables)) {}

    Diagnostics& diagnostics() { return diagnostics_; }
    static SourceLocation where(const YAML::Node& node);
    // The value's location, or its key's when the value is empty.
    static SourceLocation where(const MapEntry& entry);

    void error(SourceLocation where, std::string message) {
        diagnostics_.error(where, std::move(message));
    }

    // The entries of a map in file order, duplicates reported and dropped, `<<` merges expanded.
    // Reports and returns nullopt when `node` is not a map. `context` names the map in messages.
    std::optional<std::vector<MapEntry>> entries(const YAML::Node& node, std::string_view path);

    // Reports keys not in `allowed`, suggesting the closest one. `owner` is how messages name the
    // map ("in container 'node'", "under 'vm'").
    void reject_unknown_keys(const std::vector<MapEntry>& entries,
                             const std::vector<std::string_view>& allowed, std::string_view owner);

    std::optional<std::string> string(const YAML::Node& node, std::string_view path);
    std::optional<bool> boolean(const YAML::Node& node, std::string_view path);
    // A string or a list of strings: "a b" splits like a shell command when `shell_words`.
    std::optional<std::vector<std::string>> string_list(const YAML::Node& node,
                                                        std::string_view path, bool shell_words);
    // A map of strings, or a list of KEY=value (KEY alone takes `missing` for its value).
    std::optional<std::map<std::string, std::string>>
    string_map(const YAML::Node& node, std::string_view path,
               const std::function<std::optional<std::string>(std::string_view)>& missing);

    // Reads a scalar and converts it; an InvalidValue from `convert` is reported at the node.
    template <typename Convert>
    auto parse(const YAML::Node& node, std::string_view path, Convert convert)
        -> std::optional<decltype(convert(std::string()))> {
        auto text = string(node, path);
        if (!text) return std::nullopt;
        try {
            return convert(*text);
        } catch (const InvalidValue& invalid) {
            error(where(node), std::string(path) + ": " + invalid.message());
            return std::nullopt;
        }
    }

    static std::string_view kind_name(const YAML::Node& node);

  private:
    Diagnostics& diagnostics_;
    VariableLookup variables_;
};

} // namespace lcloud::project

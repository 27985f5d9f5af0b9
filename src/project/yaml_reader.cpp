#include "project/yaml_reader.hpp"

#include <fmt/format.h>
#include <set>

namespace lcloud::project {

SourceLocation YamlReader::where(const YAML::Node& node) {
    const auto mark = node.Mark();
    if (mark.is_null()) return {};
    return {mark.line + 1, mark.column + 1};
}

SourceLocation YamlReader::where(const MapEntry& entry) {
    if (!entry.value.IsDefined() || entry.value.IsNull()) return entry.key_where;
    const auto location = where(entry.value);
    return location.line == 0 ? entry.key_where : location;
}

std::string_view YamlReader::kind_name(const YAML::Node& node) {
    switch (node.Type()) {
    case YAML::NodeType::Map:
        return "a map";
    case YAML::NodeType::Sequence:
        return "a list";
    case YAML::NodeType::Scalar:
        return "a single value";
    default:
        return "nothing";
    }
}

std::optional<std::vector<MapEntry>> YamlReader::entries(const YAML::Node& node,
                                                         std::string_view path) {
    if (!node.IsMap()) {
        error(where(node),
              fmt::format("{}: expected a map of keys and values, got {}", path, kind_name(node)));
        return std::nullopt;
    }
    std::vector<MapEntry> result;
    std::map<std::string, SourceLocation> seen;
    std::vector<YAML::Node> merges;
    for (const auto& item : node) {
        const SourceLocation key_where = where(item.first);
        if (!item.first.IsScalar()) {
            error(key_where, fmt::format("{}: a key must be a single value, not {}", path,
                                         kind_name(item.first)));
            continue;
        }
        const std::string key = item.first.Scalar();
        if (key == "<<" && item.first.Tag() != "tag:yaml.org,2002:str") {
            merges.push_back(item.second);
            continue;
        }
        if (const auto first = seen.find(key); first != seen.end()) {
            error(key_where, fmt::format("duplicate key '{}' in {} (first at line {}); keep one",
                                         key, path, first->second.line));
            continue;
        }
        seen.emplace(key, key_where);
        result.push_back({key, key_where, item.second});
    }
    // Merge keys: later maps in the list lose to earlier ones, explicit keys win over all.
    for (const auto& merge : merges) {
        std::vector<YAML::Node> sources;
        if (merge.IsSequence())
            for (const auto& source : merge)
                sources.push_back(source);
        else
            sources.push_back(merge);
        for (const auto& source : sources) {
            if (!source.IsMap()) {
                error(where(source), fmt::format("{}: '<<' merges a map (an alias such as "
                                                 "*defaults), got {}",
                                                 path, kind_name(source)));
                continue;
            }
            for (const auto& item : source) {
                if (!item.first.IsScalar() || seen.count(item.first.Scalar())) continue;
                seen.emplace(item.first.Scalar(), where(item.first));
                result.push_back({item.first.Scalar(), where(item.first), item.second});
            }
        }
    }
    return result;
}

void YamlReader::reject_unknown_keys(const std::vector<MapEntry>& entries,
                                     const std::vector<std::string_view>& allowed,
                                     std::string_view owner) {
    for (const auto& entry : entries) {
        if (std::find(allowed.begin(), allowed.end(), entry.key) != allowed.end()) continue;
        if (entry.key.starts_with("x-")) continue; // Compose's extension fields
        std::string message = fmt::format("unknown key '{}' {}", entry.key, owner);
        if (const auto suggestion = closest_match(entry.key, allowed))
            message += fmt::format("; did you mean '{}'?", *suggestion);
        else
            message += fmt::format("; expected one of: {}", fmt::join(allowed, ", "));
        error(entry.key_where, std::move(message));
    }
}

std::optional<std::string> YamlReader::string(const YAML::Node& node, std::string_view path) {
    if (!node.IsScalar()) {
        error(where(node),
              fmt::format("{}: expected a single value, got {}", path, kind_name(node)));
        return std::nullopt;
    }
    try {
        return interpolate(node.Scalar(), variables_, [&](std::string message) {
            diagnostics_.warning(where(node), fmt::format("{}: {}", path, message));
        });
    } catch (const InvalidValue& invalid) {
        error(where(node), fmt::format("{}: {}", path, invalid.message()));
        return std::nullopt;
    }
}

std::optional<bool> YamlReader::boolean(const YAML::Node& node, std::string_view path) {
    const auto text = string(node, path);
    if (!text) return std::nullopt;
    const std::string lower = to_lower(*text);
    if (lower == "true" || lower == "yes" || lower == "on") return true;
    if (lower == "false" || lower == "no" || lower == "off") return false;
    error(where(node), fmt::format("{}: expected true or false, got '{}'", path, *text));
    return std::nullopt;
}

std::optional<std::vector<std::string>>
YamlReader::string_list(const YAML::Node& node, std::string_view path, bool shell_words) {
    if (node.IsScalar()) {
        const auto text = string(node, path);
        if (!text) return std::nullopt;
        if (!shell_words) return std::vector<std::string>{*text};
        try {
            return shell_split(*text);
        } catch (const InvalidValue& invalid) {
            error(where(node), fmt::format("{}: {}", path, invalid.message()));
            return std::nullopt;
        }
    }
    if (!node.IsSequence()) {
        error(where(node),
              fmt::format("{}: expected a list of strings, got {}", path, kind_name(node)));
        return std::nullopt;
    }
    std::vector<std::string> items;
    bool ok = true;
    for (const auto& item : node) {
        if (auto text = string(item, path))
            items.push_back(std::move(*text));
        else
            ok = false;
    }
    if (!ok) return std::nullopt;
    return items;
}

std::optional<std::map<std::string, std::string>>
YamlReader::string_map(const YAML::Node& node, std::string_view path,
                       const std::function<std::optional<std::string>(std::string_view)>& missing) {
    std::map<std::string, std::string> values;
    if (node.IsSequence()) {
        for (const auto& item : node) {
            const auto text = string(item, path);
            if (!text) continue;
            const auto equals = text->find('=');
            const std::string key = text->substr(0, equals);
            if (key.empty()) {
                error(where(item), fmt::format("{}: expected KEY=value, got '{}'", path, *text));
                continue;
            }
            if (equals != std::string::npos)
                values[key] = text->substr(equals + 1);
            else if (auto value = missing(key))
                values[key] = *value;
        }
        return values;
    }
    if (!node.IsMap()) {
        error(where(node), fmt::format("{}: expected a map or a list of KEY=value, got {}", path,
                                       kind_name(node)));
        return std::nullopt;
    }
    const auto items = entries(node, path);
    if (!items) return std::nullopt;
    for (const auto& entry : *items) {
        if (entry.value.IsNull()) {
            if (auto value = missing(entry.key)) values[entry.key] = *value;
            continue;
        }
        if (auto value = string(entry.value, fmt::format("{}.{}", path, entry.key)))
            values[entry.key] = *value;
    }
    return values;
}

} // namespace lcloud::project

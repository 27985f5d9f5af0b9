#include "runtime/oci/config.hpp"

#include <algorithm>
#include <array>
#include <utility>

namespace lcloud::runtime::oci {

namespace {

constexpr std::array<std::pair<NamespaceType, std::string_view>, 8> namespace_names{{
    {NamespaceType::pid, "pid"},
    {NamespaceType::network, "network"},
    {NamespaceType::mount, "mount"},
    {NamespaceType::ipc, "ipc"},
    {NamespaceType::uts, "uts"},
    {NamespaceType::user, "user"},
    {NamespaceType::cgroup, "cgroup"},
    {NamespaceType::time, "time"},
}};

} // namespace

std::string_view to_string(NamespaceType type) {
    for (const auto& [value, name] : namespace_names)
        if (value == type) return name;
    return "unknown";
}

std::optional<NamespaceType> namespace_type_from_string(std::string_view name) {
    for (const auto& [value, known] : namespace_names)
        if (known == name) return value;
    return std::nullopt;
}

bool Linux::has_namespace(NamespaceType type) const {
    return find_namespace(type) != nullptr;
}

const Namespace* Linux::find_namespace(NamespaceType type) const {
    const auto found = std::find_if(namespaces.begin(), namespaces.end(),
                                    [type](const Namespace& ns) { return ns.type == type; });
    return found == namespaces.end() ? nullptr : &*found;
}

} // namespace lcloud::runtime::oci

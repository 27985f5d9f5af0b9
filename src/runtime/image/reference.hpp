#pragma once

#include <string>
#include <string_view>

namespace lcloud::runtime::image {

// NAME:TAG, the way images are named in the store ("debian:bookworm", "registry:5000/app:1").
struct Reference {
    std::string name;
    std::string tag;
    std::string str() const { return name + ":" + tag; }
    bool operator==(const Reference&) const = default;
};

// "name" or "name:tag"; the tag defaults to "latest". Names are lowercase components
// ([a-z0-9] separated by '.', '_', '-') joined by '/', the first of which may be a registry
// host with a port; tags are [A-Za-z0-9_][A-Za-z0-9_.-]{0,127}. Throws ImageError otherwise.
Reference parse_reference(std::string_view text);

} // namespace lcloud::runtime::image

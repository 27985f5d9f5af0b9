#include "runtime/image/reference.hpp"

#include "runtime/image/errors.hpp"

namespace lcloud::runtime::image {

namespace {

bool is_lower_alnum(char c) {
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
}

bool valid_component(std::string_view part, bool first) {
    if (part.empty()) return false;
    // A registry host may carry a port and capitals ("Registry.local:5000").
    if (first && (part.find_first_of(".:") != std::string_view::npos || part == "localhost")) {
        for (char c : part)
            if (!is_lower_alnum(c) && !(c >= 'A' && c <= 'Z') && c != '.' && c != '-' && c != ':')
                return false;
        return true;
    }
    if (!is_lower_alnum(part.front()) || !is_lower_alnum(part.back())) return false;
    for (char c : part)
        if (!is_lower_alnum(c) && c != '.' && c != '_' && c != '-') return false;
    return true;
}

bool valid_tag(std::string_view tag) {
    if (tag.empty() || tag.size() > 128 || tag.front() == '.' || tag.front() == '-') return false;
    for (char c : tag)
        if (!is_lower_alnum(c) && !(c >= 'A' && c <= 'Z') && c != '_' && c != '.' && c != '-')
            return false;
    return true;
}

} // namespace

Reference parse_reference(std::string_view text) {
    const std::string shown(text);
    if (text.find('@') != std::string_view::npos)
        throw ImageError("image reference '" + shown +
                         "': references by digest are not supported; use NAME:TAG or an image id");
    const size_t slash = text.rfind('/');
    const size_t colon = text.rfind(':');
    Reference reference;
    if (colon != std::string_view::npos && (slash == std::string_view::npos || colon > slash)) {
        reference.name = std::string(text.substr(0, colon));
        reference.tag = std::string(text.substr(colon + 1));
    } else {
        reference.name = shown;
        reference.tag = "latest";
    }
    if (!valid_tag(reference.tag))
        throw ImageError("image reference '" + shown + "': the tag '" + reference.tag +
                         "' is not valid; tags are letters, digits, '_', '.' and '-' (at most "
                         "128, not starting with '.' or '-')");
    bool first = true;
    size_t start = 0;
    while (start <= reference.name.size()) {
        size_t end = reference.name.find('/', start);
        if (end == std::string::npos) end = reference.name.size();
        const bool has_more = end < reference.name.size();
        if (!valid_component(std::string_view(reference.name).substr(start, end - start),
                             first && has_more))
            throw ImageError("image reference '" + shown + "': the name '" + reference.name +
                             "' is not valid; names are lowercase letters and digits, separated "
                             "by '.', '_', '-' or '/' (e.g. debian:bookworm)");
        first = false;
        start = end + 1;
    }
    return reference;
}

} // namespace lcloud::runtime::image

#include "engine/image_carrier.hpp"

#include "runtime/image/build/containerfile.hpp"
#include "state/atomic_file.hpp"

#include <algorithm>
#include <cctype>
#include <sstream>

namespace lcloud::engine {

namespace {

std::string lower(std::string text) {
    std::transform(text.begin(), text.end(), text.begin(),
                   [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
    return text;
}

} // namespace

std::vector<std::string> base_images(const project::BuildSpec& build) {
    const auto path = build.context / build.dockerfile;
    const auto content = state::read_file(path);
    if (!content) return {}; // the builder says what is missing
    const auto file = runtime::image::build::parse_containerfile(*content, path.string());
    std::vector<std::string> stages, bases;
    for (const auto& instruction : file.instructions) {
        if (instruction.keyword != "FROM") continue;
        std::istringstream words(instruction.arguments);
        std::string base, as, name;
        words >> base >> as >> name;
        const bool stage = std::find(stages.begin(), stages.end(), lower(base)) != stages.end();
        if (lower(as) == "as") stages.push_back(lower(name));
        if (base.empty() || lower(base) == "scratch" || base.find('$') != std::string::npos ||
            stage || std::find(bases.begin(), bases.end(), base) != bases.end())
            continue;
        bases.push_back(base);
    }
    return bases;
}

} // namespace lcloud::engine

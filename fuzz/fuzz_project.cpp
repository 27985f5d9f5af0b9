// libFuzzer target: any text given to the project parser must end in a Project or diagnostics,
// never a crash, a hang or an escaping exception.
#include "project/loader.hpp"
#include "project/serialize.hpp"

#include <cstddef>
#include <cstdint>
#include <string_view>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    const std::string_view text(reinterpret_cast<const char*>(data), size);
    const lcloud::project::VariableLookup variables =
        [](std::string_view name) -> std::optional<std::string> {
        if (name == "SET") return std::string("value");
        if (name == "EMPTY") return std::string();
        return std::nullopt;
    };
    lcloud::project::Diagnostics diagnostics("lcloud.yaml");
    // A directory that exists but holds no project files, so path checks run for real.
    const auto project = lcloud::project::parse_project(
        text, "/nonexistent-lcloud-fuzz/lcloud.yaml", variables, diagnostics);
    if (!diagnostics.has_errors())
        (void)lcloud::project::to_yaml(lcloud::project::to_json(project));
    for (const auto& diagnostic : diagnostics.sorted())
        (void)lcloud::project::format(diagnostic);
    return 0;
}

#include "cli/app.hpp"
#include "project/loader.hpp"

#include <iostream>
#include <nlohmann/json.hpp>

namespace lcloud::cli {

static nlohmann::ordered_json diagnostics_json(const std::vector<project::Diagnostic>& items) {
    auto list = nlohmann::ordered_json::array();
    for (const auto& item : items)
        list.push_back(
            {{"file", item.file},
             {"line", item.where.line},
             {"column", item.where.column},
             {"severity", item.severity == project::Severity::error ? "error" : "warning"},
             {"message", item.message}});
    return list;
}

void add_validate_command(CLI::App& app, Context& context) {
    auto* command = app.add_subcommand("validate", "Check lcloud.yaml and print every error");
    command->footer("Prints each problem as FILE:LINE:COLUMN: message and exits 1, or prints "
                    "'ok'.\nExample:\n  lcloud validate -f path/to/lcloud.yaml");
    context.on_run(command, [&context] {
        std::vector<project::Diagnostic> warnings;
        if (!context.options().json) {
            context.load_project();
            std::cout << "ok\n";
            return;
        }
        try {
            context.load_project(&warnings);
            std::cout << nlohmann::ordered_json{{"ok", true},
                                                {"diagnostics", diagnostics_json(warnings)}}
                             .dump(2)
                      << '\n';
        } catch (const project::ProjectError& error) {
            std::cout << nlohmann::ordered_json{{"ok", false},
                                                {"diagnostics",
                                                 diagnostics_json(error.diagnostics())}}
                             .dump(2)
                      << '\n';
            throw Error("the project file has errors");
        }
    });
}

} // namespace lcloud::cli

#include "cli/app.hpp"
#include "project/serialize.hpp"

#include <iostream>

namespace lcloud::cli {

void add_config_command(CLI::App& app, Context& context) {
    auto* command = app.add_subcommand(
        "config", "Print the resolved project: defaults filled in, paths absolute, variables "
                  "replaced");
    command->footer("Example:\n  lcloud config --json | jq .containers");
    context.on_run(command, [&context] {
        const auto json = project::to_json(context.load_project());
        if (context.options().json)
            std::cout << json.dump(2) << '\n';
        else
            std::cout << project::to_yaml(json);
    });
}

} // namespace lcloud::cli

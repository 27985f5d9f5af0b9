#include "cli/app.hpp"
#include "project/templates.hpp"

#include <fmt/format.h>
#include <iostream>

namespace lcloud::cli {

void add_init_command(CLI::App& app, Context& context) {
    struct Options {
        std::string template_name = "minimal";
        std::string directory = ".";
        bool list = false;
    };
    auto options = std::make_shared<Options>();
    auto* command = app.add_subcommand("init", "Write a new lcloud.yaml from a template");
    command->add_option("-t,--template", options->template_name, "The template to write")
        ->capture_default_str();
    command->add_flag("--list", options->list, "List the templates");
    command->add_option("dir", options->directory, "Where to write it (default: here)");
    command->footer("Refuses to overwrite an existing file.\nExamples:\n  lcloud init\n"
                    "  lcloud init --template localcloud myproject");
    context.on_run(command, [options, &context] {
        if (options->list) {
            for (const auto& name : project::template_names())
                std::cout << name << '\n';
            return;
        }
        const auto written = project::write_template(options->template_name, options->directory);
        if (context.options().quiet) return;
        for (const auto& path : written)
            std::cout << "wrote " << path.string() << '\n';
        std::cout << fmt::format("next: cd {} && lcloud up\n", options->directory);
    });
}

} // namespace lcloud::cli

#include "cli/app.hpp"

#include "cli/logging.hpp"
#include "common/error.hpp"
#include "project/discovery.hpp"
#include "project/loader.hpp"
#include "state/state_dir.hpp"

#include <cstdlib>
#include <cstring>
#include <fmt/format.h>
#include <iostream>
#include <spdlog/spdlog.h>
#include <unistd.h>

namespace lcloud::cli {

namespace fs = std::filesystem;

bool Context::color() const {
    return !options_.no_color && std::getenv("NO_COLOR") == nullptr && isatty(STDERR_FILENO);
}

fs::path Context::project_file() const {
    if (!options_.file.empty()) {
        const fs::path file = fs::absolute(options_.file).lexically_normal();
        if (!fs::exists(file))
            throw Error(
                fmt::format("{}: no such file; run 'lcloud init' to write one", options_.file));
        return file;
    }
    if (auto found = project::find_project_file(fs::current_path())) return *found;
    throw Error(fmt::format("no lcloud.yaml in {} or its parents; run 'lcloud init' to write one, "
                            "or name it with -f",
                            fs::current_path().string()));
}

std::string Context::display_path(const fs::path& path) {
    std::error_code error;
    const auto relative = path.lexically_relative(fs::current_path(error));
    if (error || relative.empty()) return path.string();
    // Within two levels above the current directory a relative path is still easy to read.
    int ups = 0;
    for (const auto& part : relative)
        ups += part == "..";
    return ups <= 2 ? relative.string() : path.string();
}

project::Project Context::load_project(std::vector<project::Diagnostic>* warnings) const {
    const fs::path file = project_file();
    try {
        // Only an environment's own commands make the directory (up): a status or a validate
        // after destroy leaves nothing behind.
        if (fs::is_directory(file.parent_path() / state::StateDir::dir_name))
            add_state_log(state::StateDir::open(file.parent_path()).path());
    } catch (const Error& error) {
        spdlog::debug("no state directory: {}", error.what());
    }
    spdlog::debug("project file {}", file.string());
    std::vector<project::Diagnostic> found;
    auto project = project::load_project(file, {display_path(file), {}}, &found);
    if (warnings)
        *warnings = found;
    else
        print_diagnostics(found);
    return project;
}

void Context::print_diagnostics(const std::vector<project::Diagnostic>& diagnostics) const {
    const bool colored = color();
    for (const auto& diagnostic : diagnostics) {
        if (options_.quiet && diagnostic.severity == project::Severity::warning) continue;
        std::string line = project::format(diagnostic);
        if (colored) {
            const char* color_code =
                diagnostic.severity == project::Severity::error ? "\033[31m" : "\033[33m";
            line = color_code + line + "\033[0m";
        }
        std::cerr << line << '\n';
        spdlog::debug("{}", project::format(diagnostic));
    }
}

void Context::run_selected(const CLI::App& app) const {
    for (const CLI::App* command : app.get_subcommands()) {
        spdlog::debug("lcloud {} (pid {})", command->get_name(), getpid());
        if (const auto action = actions_.find(command); action != actions_.end()) action->second();
        run_selected(*command); // "image import" and the like
    }
}

static void print_error(const Context& context, std::string_view message) {
    spdlog::debug("error: {}", message);
    if (context.color())
        std::cerr << "\033[31mlcloud: error:\033[0m " << message << '\n';
    else
        std::cerr << "lcloud: error: " << message << '\n';
}

int run(int argc, char** argv) {
    GlobalOptions options;
    Context context(options);
    CLI::App app{"lcloud: a whole local cloud (a VM and its containers) from one lcloud.yaml",
                 "lcloud"};
    app.require_subcommand(1);
    app.fallthrough();
    app.set_version_flag("--version", std::string(LCLOUD_VERSION));
    app.footer("Examples:\n  lcloud init --template localcloud myproject\n  lcloud validate\n"
               "  lcloud -C myproject config --json");
    app.add_option("-f,--file", options.file,
                   "The project file (default: lcloud.yaml here or "
                   "in a parent directory)");
    app.add_option("-C,--directory", options.directory, "Run as if started in DIR");
    app.add_flag("--json", options.json, "Print machine-readable JSON");
    app.add_flag("-v,--verbose,--debug", options.verbose, "Print debug logs");
    app.add_flag("-q,--quiet", options.quiet, "Print only errors");
    app.add_flag("--no-color", options.no_color, "Never color the output");

    for (const CommandAdder add : {add_init_command, add_validate_command, add_config_command,
                                   add_version_command, add_up_command, add_container_commands,
                                   add_image_command, add_box_command, add_machine_commands})
        add(app, context);

    try {
        app.parse(argc, argv);
        setup_logging(options.quiet     ? Verbosity::quiet
                      : options.verbose ? Verbosity::verbose
                                        : Verbosity::normal,
                      context.color());
        if (!options.directory.empty() && chdir(options.directory.c_str()) != 0)
            throw UsageError(fmt::format("-C {}: cannot enter the directory: {}", options.directory,
                                         std::strerror(errno)));
        context.run_selected(app);
        return 0;
    } catch (const CLI::CallForHelp& help) {
        return app.exit(help);
    } catch (const CLI::CallForAllHelp& help) {
        return app.exit(help);
    } catch (const CLI::CallForVersion& version) {
        return app.exit(version);
    } catch (const CLI::ParseError& error) {
        std::cerr << "lcloud: " << error.what() << "\nRun 'lcloud --help' for the commands and "
                  << "their options.\n";
        return 2;
    } catch (const project::ProjectError& error) {
        context.print_diagnostics(error.diagnostics());
        const auto errors =
            std::count_if(error.diagnostics().begin(), error.diagnostics().end(),
                          [](const auto& d) { return d.severity == project::Severity::error; });
        print_error(context,
                    fmt::format("the project file has {} error{}", errors, errors == 1 ? "" : "s"));
        return 1;
    } catch (const ExitStatus& status) {
        return status.exit_code();
    } catch (const Error& error) {
        print_error(context, error.what());
        return error.exit_code();
    } catch (const std::exception& error) {
        print_error(context, fmt::format("unexpected failure: {}", error.what()));
        return 1;
    }
}

} // namespace lcloud::cli

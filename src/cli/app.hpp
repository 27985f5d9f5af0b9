#pragma once

#include "project/diagnostics.hpp"
#include "project/model.hpp"

#include <CLI/CLI.hpp>
#include <filesystem>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace lcloud::cli {

struct GlobalOptions {
    std::string file;      // -f
    std::string directory; // -C
    bool json = false;
    bool verbose = false;
    bool quiet = false;
    bool no_color = false;
};

// What every command shares: the options, the terminal, and the project once found.
class Context {
  public:
    explicit Context(GlobalOptions& options) : options_(options) {}

    const GlobalOptions& options() const { return options_; }
    bool color() const;

    // The project file named by -f, or found in the current directory or its parents.
    std::filesystem::path project_file() const;
    // Loads the project; warnings go to stderr. Throws ProjectError with every error.
    project::Project load_project(std::vector<project::Diagnostic>* warnings = nullptr) const;
    // How messages name a path: relative to the current directory when below it.
    static std::string display_path(const std::filesystem::path& path);

    void print_diagnostics(const std::vector<project::Diagnostic>& diagnostics) const;

    // Commands register what they do; it runs after the whole line is parsed and -C applied.
    void on_run(CLI::App* command, std::function<void()> action) {
        actions_.emplace(command, std::move(action));
    }
    void run_selected(const CLI::App& app) const;

  private:
    GlobalOptions& options_;
    std::map<const CLI::App*, std::function<void()>> actions_;
};

// A command's own exit status to pass on (exec's program exited 3): no message of ours.
class ExitStatus : public Error {
  public:
    explicit ExitStatus(int code) : Error(""), code_(code) {}
    int exit_code() const override { return code_; }

  private:
    int code_;
};

using CommandAdder = void (*)(CLI::App& app, Context& context);

void add_init_command(CLI::App& app, Context& context);
void add_validate_command(CLI::App& app, Context& context);
void add_config_command(CLI::App& app, Context& context);
void add_version_command(CLI::App& app, Context& context);
void add_up_command(CLI::App& app, Context& context);
void add_container_commands(CLI::App& app, Context& context);
void add_image_command(CLI::App& app, Context& context);
void add_box_command(CLI::App& app, Context& context);
void add_machine_commands(CLI::App& app, Context& context);

// Parses the command line and runs the command. Returns the exit code: 0 success, 1 failure,
// 2 usage error. Errors are caught here, once, and printed as one clear line.
int run(int argc, char** argv);

} // namespace lcloud::cli

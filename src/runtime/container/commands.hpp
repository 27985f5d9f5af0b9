#pragma once

#include "common/fd.hpp"
#include "runtime/container/state.hpp"
#include "runtime/oci/config.hpp"

#include <array>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

// One function per command of the OCI runtime command line, as crun has one file per command.
namespace lcloud::runtime {

struct CreateOptions {
    std::string id;
    std::filesystem::path bundle = ".";
    std::filesystem::path pid_file;
    std::filesystem::path console_socket;
    // The container's stdin, stdout and stderr, when not ours (-1: inherit ours). lcloud-agent
    // hands its containers log FIFOs here.
    std::array<int, 3> stdio{-1, -1, -1};
};

// Creates the container and leaves its init waiting for `start`. Returns the init's pid; the
// init is a child of this process.
// `console`, when set, is where the terminal goes instead of options.console_socket.
pid_t create_container(const StateStore& store, const CreateOptions& options,
                       const oci::Config& config, Fd console = {});
pid_t create_container(const StateStore& store, const CreateOptions& options);
void start_container(const StateStore& store, const std::string& id);
void kill_container(const StateStore& store, const std::string& id, int signal, bool all);
// `config`, when the caller has it loaded, saves reading the bundle again for poststop hooks.
void delete_container(const StateStore& store, const std::string& id, bool force,
                      const oci::Config* config = nullptr);
// create + start, then (unless detached) wait, delete, and return the process's exit code.
int run_container(const StateStore& store, const CreateOptions& options, bool detach);

struct ExecOptions {
    std::vector<std::string> args;
    std::vector<std::string> env;
    std::string cwd;
    bool tty = false;
    std::filesystem::path console_socket; // with tty: where the terminal goes; else we proxy it
    bool detach = false;
    std::filesystem::path pid_file;
};
// Runs a process inside a running container; returns its exit code.
int exec_in_container(const StateStore& store, const std::string& id, const ExecOptions& options);

// A signal by name ("KILL", "SIGTERM") or number.
int parse_signal(const std::string& text);

// The exit code a shell would report for a wait status.
int exit_code_of(int wait_status);

} // namespace lcloud::runtime

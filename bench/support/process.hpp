#pragma once

// Running the peers' commands for the benchmarks: timed, output kept in a file (a daemon the
// command leaves behind, like podman's conmon or lcloud-agent, would hold a pipe open), and
// optionally inside a network namespace.

#include <chrono>
#include <csignal>
#include <cstdio>
#include <fcntl.h>
#include <fstream>
#include <functional>
#include <sched.h>
#include <sstream>
#include <stdexcept>
#include <string>
#include <sys/wait.h>
#include <unistd.h>
#include <utility>
#include <vector>

extern char** environ;

namespace lcloud::bench {

using Clock = std::chrono::steady_clock;

inline double ms_since(Clock::time_point start) {
    return std::chrono::duration<double, std::milli>(Clock::now() - start).count();
}

inline volatile std::sig_atomic_t interrupted = 0;

// Ctrl-C or SIGTERM then ends the benchmark through its cleanup (see throw_if_interrupted)
// rather than killing it with containers, mounts and links left behind.
inline void unwind_on_interrupt() {
    struct sigaction action {};
    action.sa_handler = [](int) { interrupted = 1; };
    ::sigaction(SIGINT, &action, nullptr);
    ::sigaction(SIGTERM, &action, nullptr);
}

// Called between steps, never in cleanup, which must run to its end.
inline void throw_if_interrupted() {
    if (interrupted) throw std::runtime_error("interrupted");
}

// Runs `cleanup` when the scope ends, however it ends; a cleanup never throws out of it.
class ScopeExit {
  public:
    explicit ScopeExit(std::function<void()> cleanup) : cleanup_(std::move(cleanup)) {}
    ScopeExit(const ScopeExit&) = delete;
    ScopeExit& operator=(const ScopeExit&) = delete;
    ~ScopeExit() {
        try {
            if (cleanup_) cleanup_();
        } catch (const std::exception& error) {
            std::fprintf(stderr, "cleanup: %s\n", error.what());
        } catch (...) {
        }
    }

  private:
    std::function<void()> cleanup_;
};

struct RunOptions {
    std::vector<std::string> env; // NAME=VALUE added to (or replacing in) ours
    int netns_fd = -1;            // run inside this network namespace
    std::string output_file;      // stdout and stderr go there; required (see WorkDir::options)
};

struct RunResult {
    int exit_code = -1;
    double wall_ms = 0;
    std::string output;
};

inline std::vector<std::string> merged_environment(const std::vector<std::string>& extra) {
    std::vector<std::string> env;
    for (char** entry = environ; *entry; ++entry) {
        const std::string text = *entry;
        bool replaced = false;
        for (const auto& added : extra)
            replaced = replaced ||
                       text.substr(0, text.find('=') + 1) == added.substr(0, added.find('=') + 1);
        if (!replaced) env.push_back(text);
    }
    env.insert(env.end(), extra.begin(), extra.end());
    return env;
}

// Runs argv (argv[0] found on PATH) to its end; the wall time covers fork to reaping.
inline RunResult run(const std::vector<std::string>& argv, const RunOptions& options = {}) {
    if (options.output_file.empty()) throw std::logic_error("run() needs an output file");
    std::vector<std::string> env = merged_environment(options.env);
    std::vector<char*> args, envp;
    for (const auto& arg : argv)
        args.push_back(const_cast<char*>(arg.c_str()));
    args.push_back(nullptr);
    for (auto& entry : env)
        envp.push_back(entry.data());
    envp.push_back(nullptr);
    const int out =
        ::open(options.output_file.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    const int null = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
    if (out < 0 || null < 0) throw std::runtime_error("cannot open " + options.output_file);
    const auto start = Clock::now();
    const pid_t pid = ::fork();
    if (pid == 0) {
        // Only async-signal-safe calls between fork and exec.
        if (options.netns_fd >= 0 && ::setns(options.netns_fd, CLONE_NEWNET) != 0) ::_exit(126);
        ::dup2(null, 0);
        ::dup2(out, 1);
        ::dup2(out, 2);
        ::execvpe(args[0], args.data(), envp.data());
        ::_exit(127);
    }
    ::close(out);
    ::close(null);
    if (pid < 0) throw std::runtime_error("fork failed");
    int status = 0;
    while (::waitpid(pid, &status, 0) < 0)
        if (errno != EINTR) throw std::runtime_error("waitpid failed");
    RunResult result;
    result.wall_ms = ms_since(start);
    result.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    std::ostringstream text;
    text << std::ifstream(options.output_file).rdbuf();
    result.output = text.str();
    return result;
}

inline std::string joined(const std::vector<std::string>& argv) {
    std::string line;
    for (const auto& arg : argv)
        line += (line.empty() ? "" : " ") + arg;
    return line;
}

// As run(), and throws with the command's output when it fails.
inline RunResult run_checked(const std::vector<std::string>& argv, const RunOptions& options = {}) {
    RunResult result = run(argv, options);
    if (result.exit_code != 0)
        throw std::runtime_error("failed (exit " + std::to_string(result.exit_code) +
                                 "): " + joined(argv) + "\n" + result.output);
    return result;
}

} // namespace lcloud::bench

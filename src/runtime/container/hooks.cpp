#include "runtime/container/hooks.hpp"

#include "common/error.hpp"
#include "common/fd.hpp"

#include <cerrno>
#include <chrono>
#include <csignal>
#include <fcntl.h>
#include <fmt/format.h>
#include <sys/wait.h>
#include <thread>
#include <unistd.h>

namespace lcloud::runtime {

namespace {

std::vector<char*> c_strings(std::vector<std::string>& strings) {
    std::vector<char*> pointers;
    for (auto& text : strings)
        pointers.push_back(text.data());
    pointers.push_back(nullptr);
    return pointers;
}

void run_hook(const oci::Hook& hook, std::string_view kind, const std::string& state_json) {
    int pipe_fds[2];
    if (::pipe2(pipe_fds, O_CLOEXEC) != 0) throw_errno("create pipe for hook", hook.path);
    Fd read_end(pipe_fds[0]), write_end(pipe_fds[1]);
    auto args = hook.args.empty() ? std::vector<std::string>{hook.path} : hook.args;
    auto env = hook.env;
    const pid_t pid = ::fork();
    if (pid < 0) throw_errno("fork for hook", hook.path);
    if (pid == 0) {
        ::dup2(read_end.get(), STDIN_FILENO);
        ::execve(hook.path.c_str(), c_strings(args).data(), c_strings(env).data());
        const std::string message =
            fmt::format("lcloud-runtime: {} hook {}: {}\n", kind, hook.path, std::strerror(errno));
        (void)!::write(STDERR_FILENO, message.data(), message.size());
        ::_exit(127);
    }
    read_end.reset();
    // A hook that does not read its stdin must not block us: ignore EPIPE.
    ::signal(SIGPIPE, SIG_IGN);
    (void)!::write(write_end.get(), state_json.data(), state_json.size());
    write_end.reset();

    const auto deadline = hook.timeout_seconds ? std::chrono::steady_clock::now() +
                                                     std::chrono::seconds(*hook.timeout_seconds)
                                               : std::chrono::steady_clock::time_point::max();
    int status = 0;
    for (;;) {
        const pid_t done = ::waitpid(pid, &status, WNOHANG);
        if (done == pid) break;
        if (done < 0 && errno != EINTR) throw_errno("wait for hook", hook.path);
        if (std::chrono::steady_clock::now() >= deadline) {
            ::kill(pid, SIGKILL);
            ::waitpid(pid, &status, 0);
            throw Error(fmt::format("{} hook {} timed out after {} s", kind, hook.path,
                                    *hook.timeout_seconds));
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
    if (WIFEXITED(status) && WEXITSTATUS(status) == 0) return;
    throw Error(fmt::format("{} hook {} failed ({})", kind, hook.path,
                            WIFEXITED(status) ? fmt::format("exit status {}", WEXITSTATUS(status))
                                              : fmt::format("signal {}", WTERMSIG(status))));
}

} // namespace

void run_hooks(const std::vector<oci::Hook>& hooks, std::string_view kind,
               const std::string& state_json) {
    for (const auto& hook : hooks)
        run_hook(hook, kind, state_json);
}

std::vector<std::string> run_hooks_warning_on_failure(const std::vector<oci::Hook>& hooks,
                                                      std::string_view kind,
                                                      const std::string& state_json) {
    std::vector<std::string> failures;
    for (const auto& hook : hooks) {
        try {
            run_hook(hook, kind, state_json);
        } catch (const Error& error) {
            failures.push_back(error.what());
        }
    }
    return failures;
}

} // namespace lcloud::runtime

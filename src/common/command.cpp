#include "common/command.hpp"

#include "common/error.hpp"
#include "common/fd.hpp"

#include <cerrno>
#include <fcntl.h>
#include <fmt/format.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

extern char** environ;

namespace lcloud {

ProgramOutput run_program(const std::vector<std::string>& args) {
    int pipe_fds[2];
    if (::pipe2(pipe_fds, O_CLOEXEC) != 0) throw_errno("create a pipe for", args.at(0));
    Fd read_end(pipe_fds[0]);
    Fd write_end(pipe_fds[1]);
    posix_spawn_file_actions_t actions;
    ::posix_spawn_file_actions_init(&actions);
    ::posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
    ::posix_spawn_file_actions_adddup2(&actions, write_end.get(), 1);
    ::posix_spawn_file_actions_adddup2(&actions, write_end.get(), 2);
    std::vector<char*> argv;
    for (const auto& arg : args)
        argv.push_back(const_cast<char*>(arg.c_str()));
    argv.push_back(nullptr);
    pid_t pid = -1;
    const int spawned = ::posix_spawnp(&pid, argv[0], &actions, nullptr, argv.data(), environ);
    ::posix_spawn_file_actions_destroy(&actions);
    if (spawned != 0) throw SystemError("run", args[0], spawned);
    write_end.reset();
    ProgramOutput result;
    char buffer[8192];
    for (;;) {
        const ssize_t count = ::read(read_end.get(), buffer, sizeof buffer);
        if (count > 0)
            result.output.append(buffer, static_cast<size_t>(count));
        else if (count == 0 || errno != EINTR)
            break;
    }
    int status = 0;
    while (::waitpid(pid, &status, 0) < 0)
        if (errno != EINTR) throw_errno("wait for", args[0]);
    result.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    return result;
}

std::string run_program_checked(const std::vector<std::string>& args, const std::string& what) {
    auto result = run_program(args);
    if (result.exit_code != 0) {
        std::string tail = result.output;
        while (!tail.empty() && tail.back() == '\n')
            tail.pop_back();
        if (tail.size() > 600) tail = "…" + tail.substr(tail.size() - 600);
        throw Error(fmt::format("{} failed ({} exited with {}): {}", what, args[0],
                                result.exit_code, tail));
    }
    return std::move(result.output);
}

} // namespace lcloud

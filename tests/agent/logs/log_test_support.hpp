#pragma once

#include "agent/event_loop.hpp"
#include "agent/logs/log_tail.hpp"
#include "common/fd.hpp"

#include <chrono>
#include <csignal>
#include <fcntl.h>
#include <filesystem>
#include <fstream>
#include <optional>
#include <poll.h>
#include <stdexcept>
#include <string>
#include <string_view>
#include <unistd.h>
#include <vector>

namespace lcloud::test {

// Runs the loop until `done` holds; false when `limit` passed first.
template <class Done>
bool drive(agent::EventLoop& loop, Done done,
           std::chrono::milliseconds limit = std::chrono::milliseconds(2000)) {
    const auto deadline = agent::Clock::now() + limit;
    while (!done()) {
        if (agent::Clock::now() >= deadline) return false;
        loop.run_once(std::chrono::milliseconds(10));
    }
    return true;
}

// A pipe for a forked child to take orders or report on.
struct TestPipe {
    Fd read, write;
    TestPipe() {
        int fds[2];
        if (::pipe2(fds, O_CLOEXEC) != 0) throw std::runtime_error("pipe2 failed");
        read = Fd(fds[0]);
        write = Fd(fds[1]);
    }
};

// Forks a child that runs `body` and always _exits with what it returns (99 when it throws).
// SIGPIPE is left deadly, so that a write into a pipe without readers would kill the child.
template <class Body> pid_t fork_child(Body body) {
    const pid_t pid = ::fork();
    if (pid < 0) throw std::runtime_error("fork failed");
    if (pid == 0) {
        int code = 99;
        try {
            ::signal(SIGPIPE, SIG_DFL);
            code = body();
        } catch (...) {
        }
        ::_exit(code);
    }
    return pid;
}

// In the child: writes it all, or returns false.
inline bool write_all(int fd, std::string_view bytes) {
    while (!bytes.empty()) {
        const ssize_t written = ::write(fd, bytes.data(), bytes.size());
        if (written <= 0) return false;
        bytes.remove_prefix(static_cast<size_t>(written));
    }
    return true;
}

// One byte from `fd`, or 0 after a second of silence or at its end.
inline char read_byte(int fd) {
    pollfd ready{fd, POLLIN, 0};
    char byte = 0;
    if (::poll(&ready, 1, 1000) != 1 || ::read(fd, &byte, 1) != 1) return 0;
    return byte;
}

inline std::vector<std::string> logs_of(const std::vector<agent::LogEntry>& entries,
                                        std::string_view stream) {
    std::vector<std::string> logs;
    for (const auto& entry : entries)
        if (entry.stream == stream) logs.push_back(entry.log);
    return logs;
}

inline std::vector<std::string> numbered(std::string_view prefix, int count,
                                         std::string_view suffix = "\n") {
    std::vector<std::string> lines;
    for (int i = 0; i < count; ++i)
        lines.push_back(std::string(prefix) + std::to_string(i) + std::string(suffix));
    return lines;
}

// The lines of a file as they are.
inline std::vector<std::string> raw_lines(const std::filesystem::path& path) {
    std::ifstream in(path);
    std::vector<std::string> lines;
    for (std::string line; std::getline(in, line);)
        lines.push_back(line);
    return lines;
}

} // namespace lcloud::test

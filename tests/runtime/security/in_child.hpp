#pragma once

// Security settings change the process that applies them for good, so every test applies them in
// a forked child and reads what the child reports.

#include "common/fd.hpp"
#include "support/child_guard.hpp"

#include <doctest/doctest.h>

#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstdint>
#include <cstring>
#include <fcntl.h>
#include <fmt/format.h>
#include <fstream>
#include <poll.h>
#include <sstream>
#include <string>
#include <string_view>
#include <sys/wait.h>
#include <thread>
#include <unistd.h>
#include <vector>

namespace lcloud::test {

struct ChildResult {
    int status = 0;
    std::string output;

    bool exited_with(int code) const { return WIFEXITED(status) && WEXITSTATUS(status) == code; }
    bool killed_by(int signal) const { return WIFSIGNALED(status) && WTERMSIG(status) == signal; }
    std::string describe() const {
        const std::string how = WIFEXITED(status)     ? fmt::format("exit {}", WEXITSTATUS(status))
                                : WIFSIGNALED(status) ? fmt::format("signal {}", WTERMSIG(status))
                                                      : fmt::format("status {}", status);
        return how + ", output:\n" + output;
    }
};

// Only write(2): some children run under a filter that allows little else.
inline void write_all(int fd, std::string_view text) {
    while (!text.empty()) {
        const ssize_t count = ::write(fd, text.data(), text.size());
        if (count < 0 && errno == EINTR) continue;
        if (count <= 0) return;
        text.remove_prefix(static_cast<size_t>(count));
    }
}

inline void write_line(int fd, std::string_view text) {
    write_all(fd, std::string(text) + "\n");
}

inline std::string read_text_file(const char* path) {
    std::ifstream file(path);
    std::stringstream text;
    text << file.rdbuf();
    return text.str();
}

// The value of `key` in /proc/<pid>/status text ("CapEff" -> "0000000000000401").
inline std::string status_field(const std::string& status, std::string_view key) {
    std::istringstream lines(status);
    std::string line;
    while (std::getline(lines, line)) {
        if (line.size() > key.size() && line.compare(0, key.size(), key) == 0 &&
            line[key.size()] == ':') {
            const size_t start = line.find_first_not_of(" \t", key.size() + 1);
            const size_t end = line.find_last_not_of(" \t");
            return start == std::string::npos ? "" : line.substr(start, end - start + 1);
        }
    }
    return "(no " + std::string(key) + ")";
}

inline std::string cap_mask(std::initializer_list<int> caps) {
    uint64_t mask = 0;
    for (const int cap : caps)
        mask |= uint64_t{1} << cap;
    return fmt::format("{:016x}", mask);
}

// The parts of `output` between lines "--next--".
inline std::vector<std::string> blocks(const std::string& output) {
    std::vector<std::string> parts(1);
    std::istringstream lines(output);
    std::string line;
    while (std::getline(lines, line)) {
        if (line == "--next--")
            parts.emplace_back();
        else
            parts.back() += line + "\n";
    }
    return parts;
}

// Runs `body(report_fd)` in a forked child, which exits with what body returns. An exception
// escaping body is written as "error: <message>" with exit code 100. Everything written to the
// fd, also by a program the child execs with it as stdout, ends up in `output`.
template <typename Body> ChildResult run_in_child(Body body) {
    using namespace std::chrono_literals;
    int ends[2];
    REQUIRE(::pipe2(ends, O_CLOEXEC) == 0);
    Fd read_end(ends[0]);
    Fd write_end(ends[1]);
    const pid_t pid = ::fork();
    REQUIRE(pid >= 0);
    if (pid == 0) {
        int code = 101;
        try {
            read_end.reset();
            code = body(write_end.get());
        } catch (const std::exception& error) {
            write_line(write_end.get(), std::string("error: ") + error.what());
            code = 100;
        } catch (...) {
            code = 102;
        }
        ::_exit(code);
    }
    ChildGuard guard(pid);
    write_end.reset();

    ChildResult result;
    const auto deadline = std::chrono::steady_clock::now() + 10s;
    for (;;) {
        const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
            deadline - std::chrono::steady_clock::now());
        REQUIRE_MESSAGE(left.count() > 0, "the child did not finish; output so far:\n"
                                              << result.output);
        pollfd ready{read_end.get(), POLLIN, 0};
        if (::poll(&ready, 1, static_cast<int>(left.count())) <= 0) continue;
        char buffer[4096];
        const ssize_t count = ::read(read_end.get(), buffer, sizeof buffer);
        if (count < 0 && errno == EINTR) continue;
        if (count <= 0) break;
        result.output.append(buffer, static_cast<size_t>(count));
    }
    // Wait until it is a zombie without reaping it, so the guard's kill cannot change its status.
    siginfo_t info{};
    while (::waitid(P_PID, static_cast<id_t>(pid), &info, WEXITED | WNOWAIT | WNOHANG) == 0 &&
           info.si_pid == 0) {
        REQUIRE_MESSAGE(std::chrono::steady_clock::now() < deadline,
                        "the child closed its report but did not exit");
        std::this_thread::sleep_for(1ms);
    }
    result.status = guard.kill_and_reap();
    return result;
}

} // namespace lcloud::test

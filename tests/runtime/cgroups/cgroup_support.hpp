#pragma once

// Guards for tests that make real cgroups and processes: whatever a test makes is gone when it
// ends, pass or fail. Deliberately independent of the code under test.

#include "common/fd.hpp"

#include <cerrno>
#include <chrono>
#include <csignal>
#include <fcntl.h>
#include <filesystem>
#include <fstream>
#include <poll.h>
#include <sstream>
#include <stdexcept>
#include <string>
#include <sys/prctl.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <thread>
#include <unistd.h>
#include <vector>

namespace lcloud::test {

inline std::string read_trimmed(const std::filesystem::path& path) {
    std::ifstream in(path);
    std::stringstream content;
    content << in.rdbuf();
    std::string text = content.str();
    while (!text.empty() && (text.back() == '\n' || text.back() == ' '))
        text.pop_back();
    return text;
}

// Every cgroup mountpoint in /proc/self/mountinfo.
inline std::vector<std::filesystem::path> cgroup_mountpoints() {
    std::vector<std::filesystem::path> mountpoints;
    std::ifstream in("/proc/self/mountinfo");
    for (std::string line; std::getline(in, line);) {
        const size_t dash = line.find(" - ");
        if (dash == std::string::npos) continue;
        const std::string type = line.substr(dash + 3, line.find(' ', dash + 3) - dash - 3);
        if (type != "cgroup" && type != "cgroup2") continue;
        std::istringstream fields(line);
        std::string id, parent, device, root, mountpoint;
        fields >> id >> parent >> device >> root >> mountpoint;
        mountpoints.emplace_back(mountpoint);
    }
    return mountpoints;
}

// The test prefix /lcloud-test-<pid>: on destruction, every process in it is killed and every
// directory of it removed, in every mounted hierarchy.
class TestCgroupRoot {
  public:
    TestCgroupRoot() : name_("lcloud-test-" + std::to_string(::getpid())) { cleanup(); }
    TestCgroupRoot(const TestCgroupRoot&) = delete;
    TestCgroupRoot& operator=(const TestCgroupRoot&) = delete;
    ~TestCgroupRoot() { cleanup(); }

    // "/lcloud-test-<pid>/<sub>"
    std::string path(const std::string& sub) const { return "/" + name_ + "/" + sub; }
    std::string name() const { return name_; }

    // Whether any hierarchy still holds the prefix.
    bool leftovers() const {
        for (const auto& mountpoint : cgroup_mountpoints())
            if (std::filesystem::exists(mountpoint / name_)) return true;
        return false;
    }

  private:
    static void tree(const std::filesystem::path& dir, std::vector<std::filesystem::path>& out) {
        std::error_code error;
        for (std::filesystem::directory_iterator it(dir, error), end; !error && it != end;
             it.increment(error))
            if (it->is_directory(error)) tree(it->path(), out);
        out.push_back(dir);
    }

    void cleanup() noexcept {
        try {
            for (const auto& mountpoint : cgroup_mountpoints()) {
                const auto top = mountpoint / name_;
                if (!std::filesystem::exists(top)) continue;
                std::vector<std::filesystem::path> dirs;
                tree(top, dirs);
                const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
                for (const auto& dir : dirs) {
                    std::ofstream(dir / "freezer.state") << "THAWED";
                    std::ofstream(dir / "cgroup.freeze") << "0";
                }
                for (const auto& dir : dirs) {
                    while (::rmdir(dir.c_str()) != 0 && errno == EBUSY &&
                           std::chrono::steady_clock::now() < deadline) {
                        std::istringstream procs(read_trimmed(dir / "cgroup.procs"));
                        for (pid_t pid; procs >> pid;)
                            ::kill(pid, SIGKILL);
                        std::this_thread::sleep_for(std::chrono::milliseconds(2));
                    }
                }
            }
        } catch (...) {
        }
    }

    std::string name_;
};

// A forked child: it waits for start(), then runs `body` and exits with its result. Killed and
// reaped on destruction unless wait() reaped it.
class Child {
  public:
    template <typename Body> explicit Child(Body body) {
        int gate[2];
        if (::pipe2(gate, O_CLOEXEC) != 0) throw std::runtime_error("pipe2 failed");
        pid_ = ::fork();
        if (pid_ < 0) throw std::runtime_error("fork failed");
        if (pid_ == 0) {
            // doctest's handlers would report a signal the test sends as a crashed test case.
            for (const int signal : {SIGTERM, SIGINT, SIGSEGV, SIGABRT, SIGFPE, SIGILL})
                ::signal(signal, SIG_DFL);
            ::close(gate[1]);
            char byte = 0;
            ssize_t count;
            while ((count = ::read(gate[0], &byte, 1)) < 0 && errno == EINTR) {
            }
            ::close(gate[0]);
            ::_exit(count == 1 ? body() : 127);
        }
        ::close(gate[0]);
        gate_ = Fd(gate[1]);
    }
    Child(const Child&) = delete;
    Child& operator=(const Child&) = delete;
    ~Child() {
        if (pid_ <= 0) return;
        ::kill(pid_, SIGKILL);
        while (::waitpid(pid_, nullptr, 0) < 0 && errno == EINTR) {
        }
    }

    pid_t pid() const { return pid_; }
    void start() {
        if (::write(gate_.get(), "g", 1) != 1) throw std::runtime_error("gate write failed");
        gate_.reset();
    }
    // The wait status; throws when the child is still running after `timeout`.
    int wait(std::chrono::milliseconds timeout = std::chrono::seconds(10)) {
        const auto deadline = std::chrono::steady_clock::now() + timeout;
        for (;;) {
            int status = 0;
            const pid_t done = ::waitpid(pid_, &status, WNOHANG);
            if (done == pid_) {
                pid_ = 0;
                return status;
            }
            if (done < 0 && errno != EINTR) throw std::runtime_error("waitpid failed");
            if (std::chrono::steady_clock::now() >= deadline)
                throw std::runtime_error("child " + std::to_string(pid_) + " still runs");
            std::this_thread::sleep_for(std::chrono::milliseconds(1));
        }
    }

  private:
    pid_t pid_ = 0;
    Fd gate_;
};

// Makes this process the reaper of its orphaned descendants for a test, and reaps them all at
// the end. Declare it before every other process guard of the test.
class SubreaperGuard {
  public:
    SubreaperGuard() { ::prctl(PR_SET_CHILD_SUBREAPER, 1); }
    SubreaperGuard(const SubreaperGuard&) = delete;
    SubreaperGuard& operator=(const SubreaperGuard&) = delete;
    ~SubreaperGuard() {
        reap_all();
        ::prctl(PR_SET_CHILD_SUBREAPER, 0);
    }
    // Reaps every child that has exited, waiting at most `timeout` for the rest; how many.
    int reap_all(std::chrono::milliseconds timeout = std::chrono::seconds(2)) {
        const auto deadline = std::chrono::steady_clock::now() + timeout;
        int reaped = 0;
        for (;;) {
            const pid_t pid = ::waitpid(-1, nullptr, WNOHANG);
            if (pid > 0) {
                ++reaped;
                continue;
            }
            if (pid < 0 && errno == EINTR) continue;
            if (pid < 0 || std::chrono::steady_clock::now() >= deadline) return reaped;
            std::this_thread::sleep_for(std::chrono::milliseconds(1));
        }
    }
};

// Sends an int from a child to the parent.
class IntPipe {
  public:
    IntPipe() {
        int ends[2];
        if (::pipe2(ends, O_CLOEXEC) != 0) throw std::runtime_error("pipe2 failed");
        read_ = Fd(ends[0]);
        write_ = Fd(ends[1]);
    }
    void send(int value) {
        if (::write(write_.get(), &value, sizeof value) != sizeof value) ::_exit(126);
    }
    // In the parent, after forking: the value, or -1 when none came within 10 s (descendants
    // may hold the write end open after the child died).
    int receive() {
        write_.reset();
        pollfd ready{read_.get(), POLLIN, 0};
        int value = -1;
        if (::poll(&ready, 1, 10000) != 1) return -1;
        ssize_t count;
        while ((count = ::read(read_.get(), &value, sizeof value)) < 0 && errno == EINTR) {
        }
        return count == sizeof value ? value : -1;
    }

  private:
    Fd read_;
    Fd write_;
};

} // namespace lcloud::test

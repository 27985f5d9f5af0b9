#pragma once

// A busybox rootfs in a temporary directory, and a way to run code in a child with its own mount
// namespace (and pid, uts or user namespace) that reports back what it found.

#include "common/fd.hpp"
#include "support/child_guard.hpp"
#include "support/temp_dir.hpp"

#include <doctest/doctest.h>

#include <cerrno>
#include <csignal>
#include <cstring>
#include <fcntl.h>
#include <filesystem>
#include <fstream>
#include <functional>
#include <poll.h>
#include <sched.h>
#include <set>
#include <sstream>
#include <string>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include <vector>

namespace lcloud::test::rootfs {

namespace fs = std::filesystem;

inline std::string read_text(const fs::path& path) {
    std::ifstream in(path, std::ios::binary);
    std::ostringstream out;
    out << in.rdbuf();
    return out.str();
}

inline void write_text(const fs::path& path, const std::string& text) {
    std::ofstream(path, std::ios::binary) << text;
}

// The mount points in /proc/self/mountinfo, as the calling process sees them.
inline std::vector<std::string> mount_points() {
    std::vector<std::string> points;
    std::istringstream lines(read_text("/proc/self/mountinfo"));
    std::string line;
    while (std::getline(lines, line)) {
        std::istringstream fields(line);
        std::string id, parent, device, root, point;
        fields >> id >> parent >> device >> root >> point;
        points.push_back(point);
    }
    return points;
}

inline bool is_mount_point(const std::string& path) {
    for (const auto& point : mount_points())
        if (point == path) return true;
    return false;
}

// What the child found wrong, one line each; empty when all was well.
class Report {
  public:
    void check(bool ok, const std::string& what) {
        if (!ok) text_ += "FAILED: " + what + "\n";
    }
    // `result` < 0 with errno `expected`.
    void check_errno(long result, int expected, const std::string& what) {
        const int error = errno;
        if (result >= 0)
            text_ += "FAILED: " + what + ": succeeded, expected " + std::strerror(expected) + "\n";
        else if (error != expected)
            text_ += "FAILED: " + what + ": " + std::strerror(error) + ", expected " +
                     std::strerror(expected) + "\n";
    }
    void note(const std::string& line) { text_ += line + "\n"; }
    const std::string& text() const { return text_; }

  private:
    std::string text_;
};

struct ChildResult {
    int status = -1;
    std::string report;
    bool ok() const { return WIFEXITED(status) && WEXITSTATUS(status) == 0 && report.empty(); }
};

enum class Isolation {
    mount_pid_uts, // the body is pid 1 of a new pid namespace, with its own hostname
    mount_only,
    user, // a new user namespace mapping root to root, and a mount namespace it owns
};

namespace detail {

inline void write_all(int fd, const std::string& text) {
    size_t done = 0;
    while (done < text.size()) {
        const ssize_t written = ::write(fd, text.data() + done, text.size() - done);
        if (written <= 0) return;
        done += static_cast<size_t>(written);
    }
}

[[noreturn]] inline void run_body(int report_fd, const std::function<void(Report&)>& body) {
    Report report;
    try {
        body(report);
    } catch (const std::exception& error) {
        report.note(std::string("exception: ") + error.what());
    } catch (...) {
        report.note("unknown exception");
    }
    write_all(report_fd, report.text());
    ::_exit(report.text().empty() ? 0 : 1);
}

inline bool write_file(const char* path, const std::string& text) {
    const int fd = ::open(path, O_WRONLY | O_CLOEXEC);
    if (fd < 0) return false;
    const bool ok = ::write(fd, text.data(), text.size()) == static_cast<ssize_t>(text.size());
    ::close(fd);
    return ok;
}

[[noreturn]] inline void run_child(int report_fd, Isolation isolation,
                                   const std::function<void(Report&)>& body) {
    ::alarm(30); // a hung child must not hang the test run
    if (isolation == Isolation::user) {
        if (::unshare(CLONE_NEWUSER | CLONE_NEWNS) != 0 ||
            !write_file("/proc/self/setgroups", "deny") ||
            !write_file("/proc/self/uid_map", "0 0 1") ||
            !write_file("/proc/self/gid_map", "0 0 1")) {
            write_all(report_fd, std::string("user namespace: ") + std::strerror(errno) + "\n");
            ::_exit(2);
        }
    } else {
        const int flags =
            CLONE_NEWNS | (isolation == Isolation::mount_pid_uts ? CLONE_NEWPID | CLONE_NEWUTS : 0);
        if (::unshare(flags) != 0) {
            write_all(report_fd, std::string("unshare: ") + std::strerror(errno) + "\n");
            ::_exit(2);
        }
    }
    if (::mount(nullptr, "/", nullptr, MS_REC | MS_PRIVATE, nullptr) != 0) {
        write_all(report_fd, std::string("make / rprivate: ") + std::strerror(errno) + "\n");
        ::_exit(2);
    }
    if (isolation != Isolation::mount_pid_uts) run_body(report_fd, body);
    const pid_t init = ::fork();
    if (init < 0) ::_exit(2);
    if (init == 0) {
        ::prctl(PR_SET_PDEATHSIG, SIGKILL);
        run_body(report_fd, body);
    }
    int status = 0;
    while (::waitpid(init, &status, 0) < 0 && errno == EINTR) {
    }
    ::_exit(WIFEXITED(status) ? WEXITSTATUS(status) : 3);
}

} // namespace detail

// Runs `body` in a forked child, isolated as asked, with / made rprivate there; returns its exit
// status and its report. The child's mounts vanish with its mount namespace.
inline ChildResult run_isolated(const std::function<void(Report&)>& body,
                                Isolation isolation = Isolation::mount_pid_uts) {
    int ends[2];
    REQUIRE(::pipe2(ends, O_CLOEXEC) == 0);
    Fd read_end(ends[0]);
    Fd write_end(ends[1]);
    const pid_t pid = ::fork();
    REQUIRE(pid >= 0);
    if (pid == 0) {
        read_end.reset();
        detail::run_child(write_end.get(), isolation, body);
    }
    ChildGuard child(pid);
    write_end.reset();
    ChildResult result;
    char buffer[4096];
    for (;;) {
        pollfd poll_fd{read_end.get(), POLLIN, 0};
        const int ready = ::poll(&poll_fd, 1, 30000);
        if (ready < 0 && errno == EINTR) continue;
        if (ready <= 0) {
            result.report += "timed out waiting for the child\n";
            break;
        }
        const ssize_t count = ::read(read_end.get(), buffer, sizeof buffer);
        if (count < 0 && errno == EINTR) continue;
        if (count <= 0) break;
        result.report.append(buffer, static_cast<size_t>(count));
    }
    // After EOF the child has exited or is about to: the status is its own, not our SIGKILL's.
    int status = 0;
    while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
    }
    result.status = status;
    child.kill_and_reap();
    return result;
}

// A rootfs with busybox and a few applet links, a marker file, and, next to it, a "host" area
// the container must neither see nor change. Checks that the host's mount table is as it was.
class Sandbox {
  public:
    Sandbox() : rootfs_(dir_.path() / "rootfs"), host_(dir_.path() / "host") {
        host_mounts_ = read_text("/proc/self/mounts");
        for (const char* sub : {"bin", "proc", "sys", "dev", "tmp", "etc"})
            fs::create_directories(rootfs_ / sub);
        fs::copy_file("/bin/busybox", rootfs_ / "bin/busybox");
        for (const char* applet : {"sh", "ls", "cat", "test", "echo", "stat", "mount"})
            fs::create_symlink("busybox", rootfs_ / "bin" / applet);
        write_text(rootfs_ / "marker", "rootfs\n");
        fs::create_directories(host_);
        write_text(host_ / "host-marker", "host\n");
    }
    Sandbox(const Sandbox&) = delete;
    Sandbox& operator=(const Sandbox&) = delete;
    ~Sandbox() {
        // Never let remove_all walk into a mount that leaked to the host: detach it first.
        const std::string prefix = dir_.path().string();
        std::istringstream lines(read_text("/proc/self/mounts"));
        std::string line;
        while (std::getline(lines, line)) {
            std::istringstream fields(line);
            std::string device, point;
            fields >> device >> point;
            if (point.rfind(prefix, 0) == 0) ::umount2(point.c_str(), MNT_DETACH);
        }
    }

    const fs::path& root() const { return dir_.path(); }
    const fs::path& rootfs() const { return rootfs_; }
    const fs::path& host() const { return host_; }
    // `host_path` (absolute) as the same path inside the rootfs.
    fs::path in_rootfs(const fs::path& host_path) const {
        return rootfs_ / host_path.relative_path();
    }

    void check_host_unchanged() const {
        const std::string now = read_text("/proc/self/mounts");
        CHECK(now == host_mounts_);
        CHECK(now.find(dir_.path().string()) == std::string::npos);
        CHECK(read_text(host_ / "host-marker") == "host\n");
    }

  private:
    TempDir dir_;
    fs::path rootfs_;
    fs::path host_;
    std::string host_mounts_;
};

} // namespace lcloud::test::rootfs

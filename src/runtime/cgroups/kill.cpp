#include "runtime/cgroups/apply.hpp"
#include "runtime/cgroups/cgroup.hpp"

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <fmt/format.h>
#include <thread>
#include <unistd.h>

namespace lcloud::runtime::cgroups {

namespace fs = std::filesystem;
using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

namespace {

// Polls `done` with growing pauses until it holds or `timeout` passes; the last answer.
template <typename Done> bool poll_until(Done done, std::chrono::milliseconds timeout) {
    const auto deadline = Clock::now() + timeout;
    auto pause = 200us;
    for (;;) {
        if (done()) return true;
        if (Clock::now() >= deadline) return false;
        std::this_thread::sleep_for(pause);
        pause = std::min<std::chrono::microseconds>(pause * 2, 10ms);
    }
}

// Holds the cgroup frozen, so that no process forks between the listing and the signal, and
// thaws it on every path. Frozen v1 tasks take a SIGKILL when thawed; frozen v2 tasks at once.
class Freeze {
  public:
    Freeze(const Cgroup::Directory* v1_freezer, const Cgroup::Directory* v2) {
        if (v1_freezer) {
            file_ = v1_freezer->path / "freezer.state";
            thawed_ = "THAWED";
            if (!freeze("FROZEN")) return;
            // A task in uninterruptible sleep delays FROZEN: signal what is listed anyway.
            poll_until([&] { return read_value(file_).value_or("") == "FROZEN"; }, 200ms);
        } else if (v2 && file_exists(v2->path / "cgroup.freeze")) {
            file_ = v2->path / "cgroup.freeze";
            thawed_ = "0";
            if (!freeze("1")) return;
            const fs::path events = v2->path / "cgroup.events";
            poll_until(
                [&] {
                    const auto content = read_value(events).value_or("");
                    return content.find("frozen 1") != std::string::npos;
                },
                200ms);
        }
    }
    Freeze(const Freeze&) = delete;
    Freeze& operator=(const Freeze&) = delete;
    ~Freeze() {
        if (!frozen_) return;
        try {
            write_value(file_, thawed_);
        } catch (const std::exception&) {
            // Gone with its cgroup: nothing left to thaw.
        }
    }

  private:
    bool freeze(const char* value) {
        try {
            write_value(file_, value);
        } catch (const CgroupError& error) {
            if (error.error_number() == ENOENT || error.error_number() == ENODEV) return false;
            throw;
        }
        frozen_ = true;
        return true;
    }

    fs::path file_;
    const char* thawed_ = "";
    bool frozen_ = false;
};

// A frozen process takes its SIGKILL only when thawed, and a sub-cgroup frozen on its own stays
// frozen when its parent thaws: thaw the whole tree once the signals are sent.
void thaw_tree(const fs::path& top) {
    for (const fs::path& directory : detail::cgroup_tree(top)) {
        for (const auto& [file, thawed] :
             {std::pair{"freezer.state", "THAWED"}, {"cgroup.freeze", "0"}}) {
            try {
                if (file_exists(directory / file)) write_value(directory / file, thawed);
            } catch (const CgroupError&) {
                // Gone meanwhile.
            }
        }
    }
}

} // namespace

void Cgroup::kill_all(int signal, int timeout_ms) {
    const auto deadline = Clock::now() + std::chrono::milliseconds(timeout_ms);
    const auto remaining = [&] {
        return std::max(
            0ms, std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()));
    };
    if (signal != SIGKILL) {
        signal_once(signal);
        return;
    }
    // cgroup.kill kills the whole subtree at once, forks in flight included.
    if (const Directory* unified = v2(); unified && file_exists(unified->path / "cgroup.kill")) {
        try {
            write_value(unified->path / "cgroup.kill", "1");
        } catch (const CgroupError& error) {
            if (error.error_number() != ENOENT && error.error_number() != ENODEV) throw;
        }
        for (const Directory& directory : directories_)
            thaw_tree(directory.path);
        if (wait_until_empty(static_cast<int>(std::min(remaining(), 1000ms).count()))) return;
    }
    for (;;) {
        signal_once(SIGKILL);
        for (const Directory& directory : directories_)
            thaw_tree(directory.path);
        if (wait_until_empty(static_cast<int>(std::min(remaining(), 100ms).count()))) return;
        if (Clock::now() >= deadline) {
            throw CgroupError(fmt::format(
                "processes {} of cgroup {} are still alive {} ms after SIGKILL; a process dies "
                "only once out of uninterruptible sleep (state D in /proc/<pid>/stat) and not "
                "frozen by a parent cgroup (freezer.state, cgroup.freeze)",
                fmt::join(all_pids(), " "), fmt::join(paths(), ", "), timeout_ms));
        }
    }
}

void Cgroup::signal_once(int signal) {
    Freeze freeze(v1("freezer"), v2());
    for (pid_t pid : all_pids()) {
        if (::kill(pid, signal) == 0 || errno == ESRCH) continue;
        const int error_number = errno;
        throw CgroupError(fmt::format("send signal {} to process {} of cgroup {}: {}", signal, pid,
                                      fmt::join(paths(), ", "), std::strerror(error_number)),
                          error_number);
    }
}

bool Cgroup::wait_until_empty(int timeout_ms) const {
    return poll_until([&] { return all_pids().empty(); }, std::chrono::milliseconds(timeout_ms));
}

} // namespace lcloud::runtime::cgroups

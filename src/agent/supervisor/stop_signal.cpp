// SIGTERM to a container's init that has no handler for it yet. The kernel drops a signal that
// a pid namespace's init does not catch, so one sent while the init is still starting (haproxy
// loading its libraries, a shell before its trap) is lost, and the stop would wait out its whole
// grace period. So it is sent again as soon as the init catches it.

#include "agent/supervisor/managed.hpp"
#include "runtime/container/commands.hpp"

#include <csignal>
#include <fmt/format.h>
#include <fstream>
#include <spdlog/spdlog.h>
#include <string>

namespace lcloud::agent {

namespace {

constexpr auto stop_signal_poll = std::chrono::milliseconds(50);

// Whether `pid` has a handler for `signal` (SigCgt in /proc/PID/status); false when it is gone.
bool catches(pid_t pid, int signal) {
    std::ifstream status(fmt::format("/proc/{}/status", pid));
    for (std::string line; std::getline(status, line);)
        if (line.starts_with("SigCgt:")) {
            const auto mask = std::stoull(line.substr(7), nullptr, 16);
            return (mask >> (signal - 1)) & 1;
        }
    return false;
}

} // namespace

void Supervisor::send_stop_signal(Managed& container) {
    const pid_t pid = container.status.pid;
    const bool caught = pid > 0 && catches(pid, SIGTERM);
    try {
        runtime::kill_container(services_.runtime, container.id(), SIGTERM, false);
    } catch (const std::exception& error) {
        spdlog::warn("agent: SIGTERM to {}: {}", container.id(), error.what());
        return;
    }
    if (!caught && pid > 0) watch_stop_signal(container);
}

void Supervisor::watch_stop_signal(Managed& container) {
    const std::string id = container.id();
    container.stop_signal_timer = services_.loop.after(stop_signal_poll, [this, id] {
        const auto found = containers_.find(id);
        if (found == containers_.end()) return;
        Managed& stopping = *found->second;
        stopping.stop_signal_timer.reset();
        if (stopping.status.state != "running" || !stopping.kill_timer) return;
        if (catches(stopping.status.pid, SIGTERM)) {
            spdlog::info("agent: {} catches SIGTERM now; sending it again", id);
            send_stop_signal(stopping);
            return;
        }
        watch_stop_signal(stopping);
    });
}

} // namespace lcloud::agent

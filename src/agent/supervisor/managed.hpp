#pragma once

#include "agent/event_loop.hpp"
#include "agent/logs/log_capture.hpp"
#include "agent/supervisor/supervisor.hpp"
#include "common/fd.hpp"

#include <optional>
#include <sys/types.h>

namespace lcloud::agent {

// One supervised container: what is reported (status) and what the event loop holds for it.
struct Supervisor::Managed {
    ContainerPaths paths;
    ContainerStatus status;
    unsigned long long pid_start_time = 0;
    bool is_child = false;       // ours to wait for; an adopted one is not, and its code is lost
    bool stop_requested = false; // by a user: no restart policy applies
    bool removing = false;
    Fd pidfd;
    std::vector<Done> on_stopped;
    Clock::time_point started;
    int backoff_step = 0;
    std::optional<EventLoop::TimerId> kill_timer;
    std::optional<EventLoop::TimerId> stop_signal_timer; // resends SIGTERM once it is caught
    std::optional<EventLoop::TimerId> restart_timer;
    std::optional<EventLoop::TimerId> health_timer;
    int failing_streak = 0;
    pid_t health_pid = 0;
    Fd health_pidfd;
    std::optional<EventLoop::TimerId> health_deadline;
    std::unique_ptr<LogCapture> logs;
    bool ports_published = false;

    const std::string& id() const { return status.spec.id; }
};

nlohmann::json record_json(const Supervisor::Managed& container);
// Throws when the record is unreadable; the caller skips it with a warning.
std::unique_ptr<Supervisor::Managed> load_record(const ContainerPaths& paths);

} // namespace lcloud::agent

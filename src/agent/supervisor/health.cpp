#include "agent/protocol/protocol.hpp"
#include "agent/supervisor/managed.hpp"
#include "runtime/container/commands.hpp"
#include "runtime/oci/config_json.hpp"

#include <csignal>
#include <fcntl.h>
#include <spdlog/spdlog.h>
#include <sys/epoll.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

namespace lcloud::agent {

namespace {

std::vector<std::string> health_command(const HealthSpec& health) {
    if (health.test.empty() || health.test[0] == "NONE") return {};
    if (health.test[0] == "CMD-SHELL") {
        std::string command;
        for (size_t i = 1; i < health.test.size(); ++i)
            command += (i > 1 ? " " : "") + health.test[i];
        return {"/bin/sh", "-c", command};
    }
    if (health.test[0] == "CMD") return {health.test.begin() + 1, health.test.end()};
    return health.test;
}

} // namespace

void Supervisor::schedule_health(Managed& container, Clock::duration delay) {
    const std::string id = container.id();
    container.health_timer = services_.loop.after(delay, [this, id] {
        const auto found = containers_.find(id);
        if (found == containers_.end()) return;
        found->second->health_timer.reset();
        if (found->second->status.state == "running") run_health_check(*found->second);
    });
}

// As Docker's start_interval: a container still starting inside its start period is checked
// more often, so that what depends on it being healthy need not wait a whole interval.
void Supervisor::schedule_next_health(Managed& container) {
    const HealthSpec& health = *container.status.spec.health;
    const bool starting =
        container.status.health == "starting" && health.start_interval_ms > 0 &&
        Clock::now() - container.started < std::chrono::milliseconds(health.start_period_ms);
    schedule_health(container, std::chrono::milliseconds(starting ? health.start_interval_ms
                                                                  : health.interval_ms));
}

// The check runs as an exec in the container, from a child of ours: the agent never blocks on
// it, and a check that hangs is killed at its timeout.
void Supervisor::run_health_check(Managed& container) {
    const HealthSpec& health = *container.status.spec.health;
    const auto args = health_command(health);
    if (args.empty()) return;
    const std::string id = container.id();
    const pid_t child = ::fork();
    if (child < 0) {
        spdlog::warn("agent: health check of {}: fork: {}", id, std::strerror(errno));
        schedule_health(container, std::chrono::milliseconds(health.interval_ms));
        return;
    }
    if (child == 0) {
        const int null = ::open("/dev/null", O_RDWR);
        for (int fd : {0, 1, 2})
            ::dup2(null, fd);
        ::setpgid(0, 0);
        try {
            runtime::ExecOptions options;
            options.args = args;
            ::_exit(runtime::exec_in_container(services_.runtime, id, options));
        } catch (...) {
            ::_exit(126);
        }
    }
    container.health_pid = child;
    container.health_pidfd = Fd(static_cast<int>(::syscall(SYS_pidfd_open, child, 0)));
    services_.loop.watch(container.health_pidfd.get(), EPOLLIN, [this, id](uint32_t) {
        const auto found = containers_.find(id);
        if (found == containers_.end()) return;
        Managed& checked = *found->second;
        services_.loop.unwatch(checked.health_pidfd.get());
        int status = 0;
        ::waitpid(checked.health_pid, &status, 0);
        checked.health_pidfd.reset();
        checked.health_pid = 0;
        if (checked.health_deadline) services_.loop.cancel(*checked.health_deadline);
        checked.health_deadline.reset();
        on_health_result(checked, WIFEXITED(status) && WEXITSTATUS(status) == 0);
    });
    container.health_deadline =
        services_.loop.after(std::chrono::milliseconds(health.timeout_ms), [this, id] {
            const auto found = containers_.find(id);
            if (found == containers_.end() || found->second->health_pid <= 0) return;
            found->second->health_deadline.reset();
            ::kill(-found->second->health_pid, SIGKILL); // its pidfd reports the failure
        });
}

void Supervisor::on_health_result(Managed& container, bool passed) {
    const HealthSpec& health = *container.status.spec.health;
    const std::string before = container.status.health;
    const bool in_start_period =
        Clock::now() - container.started < std::chrono::milliseconds(health.start_period_ms);
    if (passed) {
        container.failing_streak = 0;
        container.status.health = "healthy";
    } else if (!in_start_period && ++container.failing_streak >= health.retries) {
        container.status.health = "unhealthy";
    }
    if (container.status.health != before) {
        save(container);
        emit(container, "health_status: " + container.status.health);
    }
    if (container.status.state == "running") schedule_next_health(container);
}

} // namespace lcloud::agent

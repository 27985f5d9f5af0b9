#include "agent/protocol/protocol.hpp"
#include "agent/supervisor/managed.hpp"
#include "common/clock.hpp"
#include "runtime/oci/config_json.hpp"

#include "runtime/container/commands.hpp"
#include "runtime/container/state.hpp"

#include <csignal>
#include <spdlog/spdlog.h>
#include <sys/syscall.h>
#include <unistd.h>

namespace lcloud::agent {

namespace fs = std::filesystem;

void Supervisor::recover() {
    std::vector<std::unique_ptr<Managed>> found;
    for (const auto& entry : fs::directory_iterator(services_.paths.containers())) {
        if (!entry.is_directory()) continue;
        const ContainerPaths paths{entry.path()};
        try {
            found.push_back(load_record(paths));
        } catch (const std::exception& error) {
            // A create killed before its first record: nothing of it can run.
            spdlog::warn("agent: {}: unreadable record ({}); removing it", paths.dir.string(),
                         error.what());
            std::error_code ignored;
            fs::remove_all(paths.dir, ignored);
        }
    }
    // Nothing runs untracked: a runtime container without a record is killed.
    for (const auto& id : services_.runtime.ids()) {
        const bool known =
            std::any_of(found.begin(), found.end(), [&id](const auto& c) { return c->id() == id; });
        if (known) continue;
        spdlog::warn("agent: container {} runs without a record; removing it", id);
        try {
            runtime::delete_container(services_.runtime, id, true);
        } catch (const std::exception& error) {
            spdlog::warn("agent: removing {}: {}", id, error.what());
        }
    }
    for (auto& container : found)
        adopt(std::move(container));
}

void Supervisor::adopt(std::unique_ptr<Managed> owned) {
    Managed& container = *owned;
    const std::string id = container.id();
    containers_[id] = std::move(owned);
    const auto& spec = container.status.spec;
    const pid_t pid = container.status.pid;
    const bool alive = pid > 0 && services_.runtime.exists(id) && container.pid_start_time != 0 &&
                       runtime::process_start_time(pid) == container.pid_start_time;
    if (alive && container.status.state == "running") {
        container.pidfd = Fd(static_cast<int>(::syscall(SYS_pidfd_open, pid, 0)));
        if (container.pidfd) {
            container.is_child = false;
            container.started = Clock::now();
            container.logs = std::make_unique<LogCapture>(services_.loop, container.paths.dir);
            watch_exit(container);
            try {
                container.ports_published = false;
                publish_ports(container);
            } catch (const std::exception& error) {
                spdlog::error("agent: ports of adopted container {}: {}", id, error.what());
            }
            if (!spec.network.empty()) refresh_names(spec.network);
            if (spec.health)
                schedule_next_health(container);
            spdlog::info("agent: adopted container {} (pid {})", id, pid);
            emit(container, "adopt");
            return;
        }
    }
    // Dead while no agent watched: clean up, then as if it had just exited, code unknown.
    release_runtime(container);
    const bool was_up = container.status.state == "running" ||
                        container.status.state == "restarting" ||
                        container.status.state == "created";
    container.status.pid = 0;
    if (was_up) {
        container.status.state = container.stop_requested ? "stopped" : "exited";
        container.status.exit_code.reset();
        container.status.finished_at = now_rfc3339_nanos();
        save(container);
        if (!container.stop_requested) apply_restart_policy(container);
    }
}

} // namespace lcloud::agent

#include "common/error.hpp"
#include "common/fd.hpp"
#include "runtime/container/commands.hpp"
#include "runtime/container/hooks.hpp"
#include "runtime/oci/config_parse.hpp"

#include <cerrno>
#include <chrono>
#include <fcntl.h>
#include <fmt/format.h>
#include <iostream>
#include <poll.h>
#include <sys/stat.h>
#include <thread>
#include <unistd.h>

namespace lcloud::runtime {

namespace {

// The init lets `start` go on before it runs the startContainer hooks and execs, but poststart
// hooks are for a container whose program runs. It has exec'd (the dmz, which execs the program
// at once) when its executable is no longer the runtime's.
void wait_for_exec(const StateStore& store, const ContainerState& state) {
    struct stat runtime {};
    if (::stat("/proc/self/exe", &runtime) != 0) throw_errno("stat", "/proc/self/exe");
    const std::string exe = fmt::format("/proc/{}/exe", state.pid);
    for (;;) {
        struct stat init {};
        if (::stat(exe.c_str(), &init) == 0) {
            if (init.st_dev != runtime.st_dev || init.st_ino != runtime.st_ino) return;
        } else if (errno != ENOENT) {
            return; // unknowable here: do not wait for what cannot be seen
        }
        if (store.status(state) == Status::stopped)
            throw Error(fmt::format("container {} exited before running its process (in a "
                                    "startContainer hook or at exec); its error went to the "
                                    "container's stderr",
                                    state.id));
        std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
}

} // namespace

void start_container(const StateStore& store, const std::string& id) {
    const ContainerState state = store.load(id);
    const Status status = store.status(state);
    if (status != Status::created)
        throw Error(
            fmt::format("cannot start container {}: it is {}, not created", id, to_string(status)));
    const auto fifo_path = store.exec_fifo(id);
    // Non-blocking, so that an init that died cannot leave us waiting forever.
    Fd fifo(::open(fifo_path.c_str(), O_RDONLY | O_NONBLOCK | O_CLOEXEC));
    if (!fifo) throw_errno("open", fifo_path.string());
    for (;;) {
        pollfd poll_fd{fifo.get(), POLLIN, 0};
        const int ready = ::poll(&poll_fd, 1, 100);
        if (ready < 0 && errno != EINTR) throw_errno("wait on", fifo_path.string());
        if (ready > 0 && (poll_fd.revents & POLLIN)) {
            char byte;
            if (::read(fifo.get(), &byte, 1) == 1) break;
        }
        if (store.status(state) == Status::stopped)
            throw Error(fmt::format("cannot start container {}: its init exited", id));
    }
    ::unlink(fifo_path.c_str());
    oci::Hooks hooks;
    try {
        hooks = oci::load_config(state.bundle).hooks;
    } catch (const Error& error) {
        throw Error(fmt::format("container {} started, but {}", id, error.what()));
    }
    if (!hooks.start_container.empty() || !hooks.poststart.empty()) wait_for_exec(store, state);
    // The spec makes a failing poststart hook a warning, and the container runs on, as with crun.
    for (const auto& failure :
         run_hooks_warning_on_failure(hooks.poststart, "poststart", store.state_json(state)))
        std::cerr << "lcloud-runtime: warning: container " << id << " started, but " << failure
                  << '\n';
}

} // namespace lcloud::runtime

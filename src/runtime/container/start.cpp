#include "common/error.hpp"
#include "common/fd.hpp"
#include "runtime/container/commands.hpp"
#include "runtime/container/hooks.hpp"
#include "runtime/oci/config_parse.hpp"

#include <cerrno>
#include <fcntl.h>
#include <fmt/format.h>
#include <poll.h>
#include <unistd.h>

namespace lcloud::runtime {

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
    try {
        const auto config = oci::load_config(state.bundle);
        run_hooks(config.hooks.poststart, "poststart", store.state_json(state));
    } catch (const Error& error) {
        // The container runs; a failing poststart hook is reported, as runc does, not undone.
        throw Error(fmt::format("container {} started, but {}", id, error.what()));
    }
}

} // namespace lcloud::runtime

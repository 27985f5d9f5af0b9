#include "common/error.hpp"
#include "common/strings.hpp"
#include "common/units.hpp"
#include "runtime/cgroups/cgroup.hpp"
#include "runtime/container/commands.hpp"

#include <csignal>
#include <cstring>
#include <fmt/format.h>
#include <sys/wait.h>

namespace lcloud::runtime {

int parse_signal(const std::string& text) {
    if (!text.empty() && std::isdigit(static_cast<unsigned char>(text.front()))) {
        try {
            return static_cast<int>(parse_integer(text, 1, SIGRTMAX));
        } catch (const InvalidValue&) {
        }
    } else {
        std::string name = text;
        for (auto& c : name)
            c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
        if (name.starts_with("SIG")) name = name.substr(3);
        for (int signal = 1; signal < NSIG; ++signal) {
            const char* abbreviation = ::sigabbrev_np(signal);
            if (abbreviation && name == abbreviation) return signal;
        }
    }
    throw UsageError(fmt::format("unknown signal '{}': use a name such as TERM or KILL, or a "
                                 "number",
                                 text));
}

int exit_code_of(int wait_status) {
    if (WIFEXITED(wait_status)) return WEXITSTATUS(wait_status);
    if (WIFSIGNALED(wait_status)) return 128 + WTERMSIG(wait_status);
    return 1;
}

void kill_container(const StateStore& store, const std::string& id, int signal, bool all) {
    const ContainerState state = store.load(id);
    const Status status = store.status(state);
    if (status != Status::created && status != Status::running)
        throw Error(fmt::format("cannot kill container {}: it is {}", id, to_string(status)));
    if (all) {
        cgroups::Cgroup::open(state.cgroup_paths).kill_all(signal);
        return;
    }
    if (::kill(state.pid, signal) != 0)
        throw_errno(fmt::format("send signal {} to", ::sigabbrev_np(signal)),
                    fmt::format("container {} (pid {})", id, state.pid));
}

} // namespace lcloud::runtime

#include "providers/forward/forwarder_process.hpp"

#include "agent/ports/forwards_file.hpp"
#include "state/atomic_file.hpp"

#include <algorithm>
#include <cerrno>
#include <csignal>
#include <cstdlib>
#include <poll.h>
#include <sys/syscall.h>
#include <unistd.h>
#include <vector>

namespace lcloud::providers::forward {

namespace fs = std::filesystem;

namespace {

// NUL-separated; empty for a zombie or a process gone.
std::vector<std::string> command_line(pid_t pid) {
    const auto text = state::read_file(fs::path("/proc") / std::to_string(pid) / "cmdline");
    std::vector<std::string> args;
    if (!text) return args;
    for (size_t start = 0; start < text->size();) {
        const size_t end = std::min(text->find('\0', start), text->size());
        args.push_back(text->substr(start, end - start));
        start = end + 1;
    }
    return args;
}

bool is_forwarder_of(const std::vector<std::string>& args, const std::string& state_arg) {
    for (size_t i = 1; i + 1 < args.size(); ++i)
        if (args[i] == "--state" && args[i + 1] == state_arg)
            return std::find(args.begin() + 1, args.end(), "forward") != args.end();
    return false;
}

} // namespace

std::string forwarder_state_arg(const fs::path& state_dir) {
    return fs::absolute(state_dir).lexically_normal().string();
}

std::optional<ForwarderProcess> ForwarderProcess::find(const fs::path& state_dir) {
    const auto text = state::read_file(state_dir / agent::forwarder_pid_file_name);
    if (!text) return std::nullopt;
    char* end = nullptr;
    const long pid = std::strtol(text->c_str(), &end, 10);
    if (pid <= 0 || end == text->c_str()) return std::nullopt;
    // The pidfd first, then the check: what we verified is what we hold.
    Fd pidfd(static_cast<int>(::syscall(SYS_pidfd_open, static_cast<pid_t>(pid), 0)));
    if (!pidfd) return std::nullopt;
    if (!is_forwarder_of(command_line(static_cast<pid_t>(pid)), forwarder_state_arg(state_dir)))
        return std::nullopt;
    ForwarderProcess process(static_cast<pid_t>(pid), std::move(pidfd));
    if (process.exited()) return std::nullopt;
    return process;
}

bool ForwarderProcess::exited() const {
    return wait_exit(std::chrono::milliseconds(0));
}

bool ForwarderProcess::signal(int signal_number) const {
    return ::syscall(SYS_pidfd_send_signal, pidfd_.get(), signal_number, nullptr, 0) == 0;
}

bool ForwarderProcess::wait_exit(std::chrono::milliseconds timeout) const {
    pollfd ready{pidfd_.get(), POLLIN, 0};
    for (;;) {
        const int count = ::poll(&ready, 1, static_cast<int>(timeout.count()));
        if (count >= 0) return count > 0;
        if (errno != EINTR) return false;
    }
}

} // namespace lcloud::providers::forward

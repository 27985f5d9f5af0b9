#include "agent/ports/host_forwarder.hpp"

#include "agent/ports/forwards_file.hpp"
#include "state/atomic_file.hpp"

#include <algorithm>
#include <csignal>
#include <fmt/format.h>
#include <spdlog/spdlog.h>
#include <sys/epoll.h>
#include <sys/signalfd.h>
#include <unistd.h>

namespace lcloud::agent {

namespace fs = std::filesystem;

namespace {

bool contains(const std::vector<Forward>& forwards, const Forward& forward) {
    return std::find(forwards.begin(), forwards.end(), forward) != forwards.end();
}

// Process state: a reboot of the host makes it worthless, so no fsync.
void write_state(const fs::path& path, const std::string& content) {
    state::write_file_atomic(path, content, 0600, state::Durability::killed_writer);
}

} // namespace

HostForwarder::HostForwarder(fs::path state_dir) : state_dir_(std::move(state_dir)), ports_(loop_) {
    // A client that left must not kill the relay writing to it.
    ::signal(SIGPIPE, SIG_IGN);
    sigset_t mask;
    sigemptyset(&mask);
    for (const int signal : {SIGHUP, SIGTERM, SIGINT})
        sigaddset(&mask, signal);
    ::sigprocmask(SIG_BLOCK, &mask, nullptr);
    signals_ = Fd(::signalfd(-1, &mask, SFD_CLOEXEC | SFD_NONBLOCK));
    if (!signals_) throw_errno("signalfd", "the port forwarder");
    loop_.watch(signals_.get(), EPOLLIN, [this](uint32_t) {
        signalfd_siginfo info{};
        bool reload_wanted = false;
        while (::read(signals_.get(), &info, sizeof info) == sizeof info) {
            if (info.ssi_signo == SIGHUP) {
                reload_wanted = true;
                continue;
            }
            spdlog::info("forwarder: signal {}; closing every port", info.ssi_signo);
            loop_.stop();
        }
        if (reload_wanted && !loop_.stopped()) {
            reload();
            spdlog::info("forwarder: reloaded; serving {} port(s)", ports_->list().size());
        }
    });
    reload();
    write_state(state_dir_ / forwarder_pid_file_name, fmt::format("{}\n", ::getpid()));
    spdlog::info("forwarder: pid {} serving {} port(s) for {}", ::getpid(), ports_->list().size(),
                 state_dir_.string());
}

HostForwarder::~HostForwarder() {
    loop_.unwatch(signals_.get());
    ports_.reset();
    // Our files only: a forwarder started after us must keep its own.
    const auto pid = state::read_file(state_dir_ / forwarder_pid_file_name);
    if (pid && std::atoi(pid->c_str()) == ::getpid()) {
        std::error_code ignored;
        fs::remove(state_dir_ / forwarder_status_file_name, ignored);
        fs::remove(state_dir_ / forwarder_pid_file_name, ignored);
    }
}

void HostForwarder::run() {
    loop_.run();
}

void HostForwarder::reload() {
    const fs::path file = state_dir_ / forwards_file_name;
    nlohmann::json status{{"pid", ::getpid()}, {"errors", nlohmann::json::array()}};
    try {
        const auto text = state::read_file(file);
        if (!text) throw InvalidForwardsFile(fmt::format("{}: no such file", file.string()));
        const ForwardsFile wanted = parse_forwards_file(*text, file.string());
        status["loaded"] = to_json(wanted);
        const auto targets = forwarder_targets(wanted);
        // Closed first, so that a forward whose target changed can bind its port again.
        for (const auto& served : ports_->list())
            if (!contains(targets, served)) {
                spdlog::info("forwarder: closing {}", host_side(served));
                ports_->remove(served);
            }
        const auto served = ports_->list();
        for (const auto& forward : targets) {
            if (contains(served, forward)) continue;
            try {
                ports_->add(forward);
                spdlog::info("forwarder: serving {} -> {}:{}", host_side(forward),
                             forward.target_ip, forward.target_port);
            } catch (const Error& error) {
                spdlog::warn("forwarder: {}", error.what());
                status["errors"].push_back(error.what());
            }
        }
    } catch (const Error& error) {
        // What is served stays served; lcloud sees the error in the status file.
        spdlog::warn("forwarder: {}", error.what());
        status["errors"].push_back(error.what());
    }
    write_state(state_dir_ / forwarder_status_file_name, status.dump() + "\n");
}

} // namespace lcloud::agent

#include "providers/forward/forwarder.hpp"

#include "agent/ports/port_forwarder.hpp"
#include "agent/ports/socket_address.hpp"
#include "common/command.hpp"
#include "providers/forward/forwarder_process.hpp"
#include "state/atomic_file.hpp"

#include <algorithm>
#include <chrono>
#include <csignal>
#include <fmt/format.h>
#include <spdlog/spdlog.h>
#include <sstream>
#include <thread>

namespace lcloud::providers::forward {

namespace fs = std::filesystem;
using namespace std::chrono_literals;

namespace {

constexpr auto answer_timeout = 10s;

agent::ForwardsFile wanted_file(const std::string& vm_address,
                                const std::vector<PortForward>& forwards) {
    return agent::normalized(agent::ForwardsFile{vm_address, forwards});
}

void remove_file(const fs::path& path) {
    std::error_code ignored;
    fs::remove(path, ignored);
}

// The last lines of the forwarder's log from `offset` on, for an error message.
std::string log_tail(const fs::path& state_dir, size_t offset = 0) {
    const fs::path log = state_dir / agent::forwarder_log_file_name;
    const auto text = state::read_file(log).value_or("");
    std::vector<std::string> lines;
    std::istringstream in(offset < text.size() ? text.substr(offset) : "");
    for (std::string line; std::getline(in, line);)
        lines.push_back(std::move(line));
    if (lines.empty()) return fmt::format("; nothing in {}", log.string());
    std::string tail = fmt::format("; the end of {}:", log.string());
    for (size_t i = lines.size() > 8 ? lines.size() - 8 : 0; i < lines.size(); ++i)
        tail += "\n  " + lines[i];
    return tail;
}

std::optional<nlohmann::json> read_status(const fs::path& state_dir) {
    const auto text = state::read_file(state_dir / agent::forwarder_status_file_name);
    if (!text) return std::nullopt;
    auto json = nlohmann::json::parse(*text, nullptr, false);
    if (json.is_discarded() || !json.is_object()) return std::nullopt;
    return json;
}

// Whether `status` says the forwarder `pid` serves `wanted`: true when it does, false while it
// has not loaded it yet; throws ForwarderError listing the ports it could not serve.
bool check_status(const std::optional<nlohmann::json>& status, pid_t pid,
                  const agent::ForwardsFile& wanted, const fs::path& state_dir) {
    if (!status || status->value("pid", 0) != pid ||
        status->value("loaded", nlohmann::json()) != agent::to_json(wanted))
        return false;
    const auto errors = status->value("errors", std::vector<std::string>{});
    if (errors.empty()) return true;
    std::string message = fmt::format("the port forwarder (pid {}) cannot serve every port:", pid);
    for (const auto& error : errors)
        message += "\n  " + error;
    throw ForwarderError(
        message +
        fmt::format("\n  (see {})", (state_dir / agent::forwarder_log_file_name).string()));
}

// Waits until a forwarder of `state_dir` has loaded `wanted`. `started` is the log's size before
// a start: the forwarder's fatal error lands there.
void wait_loaded(const fs::path& state_dir, const agent::ForwardsFile& wanted,
                 std::optional<size_t> started) {
    const auto deadline = std::chrono::steady_clock::now() + answer_timeout;
    for (;;) {
        if (auto process = ForwarderProcess::find(state_dir)) {
            if (check_status(read_status(state_dir), process->pid(), wanted, state_dir)) return;
        } else if (!started) {
            throw ForwarderError("the port forwarder exited while reloading" + log_tail(state_dir));
        } else {
            const auto log = state::read_file(state_dir / agent::forwarder_log_file_name);
            if (log && log->find("lcloud-agent: error:", *started) != std::string::npos)
                throw ForwarderError("the port forwarder failed to start" +
                                     log_tail(state_dir, *started));
        }
        if (std::chrono::steady_clock::now() > deadline)
            throw ForwarderError(
                fmt::format("the port forwarder did not serve the ports within {} s",
                            std::chrono::seconds(answer_timeout).count()) +
                log_tail(state_dir));
        std::this_thread::sleep_for(5ms);
    }
}

void write_forwards(const fs::path& state_dir, const agent::ForwardsFile& wanted) {
    state::write_file_atomic(state_dir / agent::forwards_file_name,
                             agent::to_json(wanted).dump(2) + "\n", 0600,
                             state::Durability::killed_writer);
}

} // namespace

void check_ports_free(const fs::path& state_dir, const std::vector<PortForward>& forwards) {
    std::vector<pid_t> own;
    if (const auto process = ForwarderProcess::find(state_dir)) {
        own.push_back(process->pid());
        // A no-op up: all of them served already, so no bind and no search through /proc.
        const auto status = read_status(state_dir);
        if (status && status->value("pid", 0) == process->pid() && status->contains("loaded") &&
            status->value("errors", nlohmann::json::array()).empty()) {
            const auto served =
                agent::forwards_from_json(status->value("loaded", nlohmann::json()), "status")
                    .forwards;
            const auto wanted = wanted_file("", forwards).forwards;
            if (std::all_of(wanted.begin(), wanted.end(), [&](const PortForward& forward) {
                    return std::find(served.begin(), served.end(), forward) != served.end();
                }))
                return;
        }
    }
    const auto problems =
        agent::unavailable_ports(agent::forwarder_targets(wanted_file("", forwards)), own);
    if (!problems.empty()) throw PortsInUse(problems);
}

ForwarderChange start_or_update_forwarder(const fs::path& state_dir, const std::string& vm_address,
                                          const std::vector<PortForward>& forwards,
                                          const fs::path& agent_binary) {
    if (forwards.empty()) {
        remove_file(state_dir / agent::forwards_file_name);
        return stop_forwarder(state_dir) ? ForwarderChange::stopped : ForwarderChange::unchanged;
    }
    agent::parse_socket_address(vm_address, 0, "the VM's address"); // throws when it is none
    const auto wanted = wanted_file(vm_address, forwards);
    if (const auto process = ForwarderProcess::find(state_dir)) {
        const auto status = read_status(state_dir);
        const bool serving = status && status->value("pid", 0) == process->pid() &&
                             status->value("loaded", nlohmann::json()) == agent::to_json(wanted) &&
                             status->value("errors", nlohmann::json::array()).empty();
        if (serving) return ForwarderChange::unchanged;
        write_forwards(state_dir, wanted);
        // Gone first, so that only the answer to this reload can match.
        remove_file(state_dir / agent::forwarder_status_file_name);
        if (process->signal(SIGHUP)) {
            spdlog::debug("port forwarder {}: reloading", process->pid());
            wait_loaded(state_dir, wanted, std::nullopt);
            return ForwarderChange::reloaded;
        }
    }
    // None (or one that died just now): whatever it left is stale.
    remove_file(state_dir / agent::forwarder_pid_file_name);
    remove_file(state_dir / agent::forwarder_status_file_name);
    write_forwards(state_dir, wanted);
    const auto log = state::read_file(state_dir / agent::forwarder_log_file_name);
    const std::vector<std::string> command{agent_binary.string(), "forward", "--state",
                                           forwarder_state_arg(state_dir)};
    const auto result = run_program(command);
    if (result.exit_code != 0)
        throw ForwarderError(
            fmt::format("could not start the port forwarder ({} exited with {}): {}",
                        agent_binary.string(), result.exit_code, result.output));
    wait_loaded(state_dir, wanted, log ? log->size() : 0);
    return ForwarderChange::started;
}

bool stop_forwarder(const fs::path& state_dir) {
    auto process = ForwarderProcess::find(state_dir);
    if (process) {
        process->signal(SIGTERM);
        if (!process->wait_exit(5000ms)) {
            spdlog::warn("port forwarder {} ignored SIGTERM; killing it", process->pid());
            process->signal(SIGKILL);
            if (!process->wait_exit(5000ms))
                throw ForwarderError(fmt::format(
                    "the port forwarder (pid {}) does not exit, even on SIGKILL", process->pid()));
        }
    }
    remove_file(state_dir / agent::forwarder_pid_file_name);
    remove_file(state_dir / agent::forwarder_status_file_name);
    return process.has_value();
}

std::optional<pid_t> forwarder_pid(const fs::path& state_dir) {
    if (const auto process = ForwarderProcess::find(state_dir)) return process->pid();
    return std::nullopt;
}

} // namespace lcloud::providers::forward

#include "providers/libvirt/console_watch.hpp"

#include "common/fd.hpp"
#include "state/atomic_file.hpp"

#include <deque>
#include <poll.h>
#include <sstream>
#include <sys/inotify.h>
#include <unistd.h>

namespace lcloud::providers::libvirt {

namespace fs = std::filesystem;

std::optional<ReadyReport> ready_report(const fs::path& log) {
    const auto text = state::read_file(log);
    if (!text) return std::nullopt;
    std::optional<ReadyReport> report;
    std::string host_key;
    // Whole lines only: QEMU writes the console as it comes, and a line read half-written
    // would lose its end (the uptime, the host key).
    std::istringstream lines(text->substr(0, text->rfind('\n') + 1));
    for (std::string line; std::getline(lines, line);) {
        while (!line.empty() && line.back() == '\r')
            line.pop_back();
        if (line.starts_with("LCLOUD-HOSTKEY ")) host_key = line.substr(15);
        if (const auto at = line.find("LCLOUD-READY"); at != std::string::npos) {
            report = ReadyReport{host_key, ""};
            if (const auto uptime = line.find("uptime=", at); uptime != std::string::npos)
                report->uptime = line.substr(uptime + 7);
        }
    }
    return report;
}

namespace {

// Calls `found` whenever the log changes (inotify on its directory) or half a second passes,
// until it says yes, the deadline passes, or `gone` gives a reason.
bool wait_on_log(const fs::path& log, std::chrono::milliseconds timeout, const GoneCheck& gone,
                 std::string* gone_reason, const std::function<bool()>& found) {
    using Clock = std::chrono::steady_clock;
    const auto deadline = Clock::now() + timeout;
    Fd watch(::inotify_init1(IN_CLOEXEC | IN_NONBLOCK));
    if (watch.get() >= 0)
        ::inotify_add_watch(watch.get(), log.parent_path().c_str(),
                            IN_MODIFY | IN_CREATE | IN_CLOSE_WRITE);
    auto last_check = Clock::now();
    for (;;) {
        if (found()) return true;
        const auto now = Clock::now();
        if (now >= deadline) return false;
        if (now - last_check >= std::chrono::milliseconds(500)) {
            last_check = now;
            if (auto reason = gone()) {
                if (gone_reason) *gone_reason = *reason;
                return false;
            }
        }
        pollfd entry{watch.get(), POLLIN, 0};
        const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - now);
        ::poll(&entry, watch.get() >= 0 ? 1 : 0,
               static_cast<int>(std::min<long>(left.count(), watch.get() >= 0 ? 100 : 50)));
        char drain[4096];
        while (watch.get() >= 0 && ::read(watch.get(), drain, sizeof drain) > 0) {
        }
    }
}

} // namespace

std::optional<ReadyReport> wait_for_ready(const fs::path& log, std::chrono::milliseconds timeout,
                                          const GoneCheck& gone, std::string* gone_reason,
                                          const std::function<void()>& each_turn) {
    std::optional<ReadyReport> report;
    wait_on_log(log, timeout, gone, gone_reason, [&] {
        report = ready_report(log);
        if (!report && each_turn) each_turn();
        return report.has_value();
    });
    return report;
}

bool log_has(const fs::path& log, const std::string& marker) {
    const auto text = state::read_file(log);
    return text && text->find(marker) != std::string::npos;
}

bool wait_for_line(const fs::path& log, const std::string& marker,
                   std::chrono::milliseconds timeout, const GoneCheck& gone,
                   std::string* gone_reason) {
    return wait_on_log(log, timeout, gone, gone_reason, [&] { return log_has(log, marker); });
}

std::string last_lines(const fs::path& log, int count) {
    const auto text = state::read_file(log);
    if (!text || text->empty()) return "(the console log is empty)";
    std::deque<std::string> lines;
    std::istringstream in(*text);
    for (std::string line; std::getline(in, line);) {
        while (!line.empty() && line.back() == '\r')
            line.pop_back();
        lines.push_back(line);
        if (static_cast<int>(lines.size()) > count) lines.pop_front();
    }
    std::string out;
    for (const auto& line : lines)
        out += "  | " + line + "\n";
    return out;
}

} // namespace lcloud::providers::libvirt

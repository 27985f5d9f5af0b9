#pragma once

// Readiness is announced by the guest on its serial console, which libvirt logs to
// .lcloud/console.log: "LCLOUD-HOSTKEY <key>" then "LCLOUD-READY". The host waits on the file
// with inotify instead of polling the network.

#include <chrono>
#include <filesystem>
#include <functional>
#include <optional>
#include <string>

namespace lcloud::providers::libvirt {

struct ReadyReport {
    std::string host_key; // "ssh-ed25519 AAAA… root@host"
    std::string uptime;   // the guest's uptime when it was ready, in seconds
};

// The guest's report once the log holds it; nullopt on timeout. `gone` is asked now and then
// and ends the wait early with its reason (the domain shut off, say), thrown as GuestNotReady
// by the caller. `each_turn`, when given, runs whenever the log changed or half a second passed.
using GoneCheck = std::function<std::optional<std::string>()>;
std::optional<ReadyReport> wait_for_ready(const std::filesystem::path& log,
                                          std::chrono::milliseconds timeout, const GoneCheck& gone,
                                          std::string* gone_reason,
                                          const std::function<void()>& each_turn = {});

// Waits, as wait_for_ready does, for a line holding `marker`; false on timeout or when gone.
bool wait_for_line(const std::filesystem::path& log, const std::string& marker,
                   std::chrono::milliseconds timeout, const GoneCheck& gone,
                   std::string* gone_reason);

// Whether a line of the log holds `marker`.
bool log_has(const std::filesystem::path& log, const std::string& marker);

// The report if the log already holds one.
std::optional<ReadyReport> ready_report(const std::filesystem::path& log);

// The last `count` lines of the log, for a diagnosis.
std::string last_lines(const std::filesystem::path& log, int count);

} // namespace lcloud::providers::libvirt

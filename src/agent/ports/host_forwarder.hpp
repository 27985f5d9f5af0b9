#pragma once

// `lcloud-agent forward --state DIR`: the one process per environment that forwards the host's
// ports into the VM. Container ports are published inside the VM on 0.0.0.0:<port>; this serves
// each host_ip:host_port of DIR/forwards.json and relays to vm_address:guest_port. It never
// needs the VM to be up: while the VM is down (or reboots) connections fail and the listeners
// stay. See forwards_file.hpp for the files it shares with lcloud.

#include "agent/event_loop.hpp"
#include "agent/ports/port_forwarder.hpp"

#include <filesystem>
#include <optional>
#include <string>
#include <vector>

namespace lcloud::agent {

class HostForwarder {
  public:
    // Blocks SIGHUP, SIGTERM and SIGINT into a signalfd, then serves DIR/forwards.json, writes
    // the status file and, last, the pid file: a pid read from it can take a SIGHUP.
    explicit HostForwarder(std::filesystem::path state_dir);
    HostForwarder(const HostForwarder&) = delete;
    HostForwarder& operator=(const HostForwarder&) = delete;
    // Closes every socket; removes the pid and status files when they are still ours.
    ~HostForwarder();

    // Until SIGTERM or SIGINT. SIGHUP reloads forwards.json.
    void run();
    // Serves what forwards.json asks now: closes the forwards gone or changed, opens the new
    // ones, keeps the others (and their connections). Records the outcome in the status file.
    void reload();

  private:
    std::filesystem::path state_dir_;
    EventLoop loop_;
    // Reset first on exit: the sockets close before the pid file goes.
    std::optional<PortForwarder> ports_;
    Fd signals_;
};

} // namespace lcloud::agent

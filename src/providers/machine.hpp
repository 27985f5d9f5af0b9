#pragma once

// The Provider seam: the machine an environment's containers live in. The engine and the CLI
// talk to this interface; providers/libvirt implements it with a VM.

#include "agent/protocol/client.hpp"
#include "common/error.hpp"

#include <chrono>
#include <functional>
#include <optional>
#include <string>
#include <vector>

namespace lcloud::providers {

using Progress = std::function<void(const std::string&)>;

enum class MachineState { not_created, running, paused, saved, shut_off, crashed, other };
std::string_view to_string(MachineState state);

// The machine does not run, so nothing in it can be reached; the message says what to run.
class MachineNotRunning : public Error {
  public:
    using Error::Error;
};

struct MachineStatus {
    std::string name; // the domain
    MachineState state = MachineState::not_created;
    std::string address; // the guest's IPv4 address, when known
    std::string driver;  // "qemu" (TCG) or "kvm"
    std::string box;     // "lcloud/base 20261123.194501"
};

// Where `lcloud ssh` and the agent transport connect.
struct SshEndpoint {
    std::string host;
    uint16_t port = 22;
    std::string user = "root";
    std::string identity;    // private key file
    std::string known_hosts; // the pinned host key
};

// What destroy did: a line for each thing it removed, and for what it kept on purpose.
struct DestroyReport {
    std::vector<std::string> removed;
    std::vector<std::string> kept;
};

class Machine {
  public:
    virtual ~Machine() = default;
    virtual MachineStatus status() = 0;
    // Creates, boots or resumes the machine and waits until it answers SSH.
    virtual void up(const Progress& progress) = 0;
    // ACPI shutdown, then power off after `timeout`. Nothing when it is not running.
    virtual void halt(std::chrono::seconds timeout) = 0;
    virtual void suspend() = 0;
    virtual void resume(const Progress& progress) = 0;
    virtual void reload(const Progress& progress) = 0;
    virtual void snapshot_save(const std::string& name) = 0;
    virtual void snapshot_restore(const std::string& name) = 0;
    virtual void snapshot_delete(const std::string& name) = 0;
    virtual std::vector<std::string> snapshot_list() = 0;
    // The pristine state `reset` returns to: the machine's disks as they were during the first
    // `up`, once its images were in place and before any container existed (or, when that
    // moment was missed, once that up succeeded). Saving it again replaces it.
    virtual bool has_pristine() = 0;
    // `images_changed`: the images differ from those the disk started with (a disk that the
    // image cache seeded), so destroy must keep these in the cache.
    virtual void save_pristine(bool before_containers, bool images_changed) = 0;
    // Powers the machine off, returns its disks to the pristine state and boots it again.
    virtual void restore_pristine(const Progress& progress) = 0;
    // Removes everything of the machine, but for its images when `keep_images`: the pristine
    // state, taken before any container existed, becomes what the next cold up starts from.
    virtual DestroyReport destroy(bool keep_images) = 0;
    virtual SshEndpoint ssh_endpoint() = 0;
    // A client of the agent in the machine (MachineNotRunning when it does not run), waiting
    // up to `wait` for an agent that is still starting.
    virtual agent::AgentClient connect_agent(std::chrono::milliseconds wait) = 0;
};

} // namespace lcloud::providers

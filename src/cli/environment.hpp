#pragma once

#include "agent/protocol/client.hpp"
#include "agent/protocol/spec.hpp"
#include "cli/app.hpp"
#include "providers/machine.hpp"

#include <functional>
#include <memory>
#include <optional>
#include <string>

namespace lcloud::cli {

// The project and its agent, for the commands that act on containers.
struct Environment {
    project::Project project;
    std::string name; // engine::environment_name
    // The VM, for provider libvirt; null for provider local. Before `agent`: it outlives it.
    std::unique_ptr<providers::Machine> machine;
    std::optional<agent::AgentClient> agent;
    // Why `agent` is empty, in one line that says what to run ("the VM … is halted; run 'lcloud
    // up'"); empty when nothing was tried.
    std::string unavailable;
    // Another connection to the same agent (for work on several threads).
    std::function<agent::AgentClient()> connect_again;
};

// Loads the project and connects to where its containers live. `start` starts the local agent
// when it is not running; without it, `agent` stays empty when there is nothing to reach. For
// provider libvirt, `machine` is the VM, and the agent in it is reached by attach_agent.
Environment open_environment(const Context& context, bool start);

// For provider libvirt: connects `agent` to the VM's agent when the VM runs (else sets
// `unavailable`). Returns whether `agent` is there (for provider local: whether it was).
bool attach_agent(Environment& environment);

// After the VM was restored from a save: the VM's agent attaches again the containers' binds of
// shared folders that save_with_shares_detached took away. Nothing when the VM holds no
// containers or does not run.
void attach_container_shares(Environment& environment);
// Runs `save` (suspend, a snapshot) on a running VM with the containers' binds of shared folders
// detached: QEMU refuses to save while a 9p mount lives, and each such bind is one. They are
// attached again when `save` fails, and after it when `keeps_running` (the VM goes on).
void save_with_shares_detached(Environment& environment, const std::function<void()>& save,
                               bool keeps_running);

// Whether the VM may hold containers of this environment: the file names some, or an earlier
// up put some there (`.lcloud/vm-containers`). When not, status, halt and destroy leave the
// agent alone: the VM alone answers in milliseconds, an SSH connection costs 60 ms more.
bool vm_may_hold_containers(const Environment& environment);
// Notes that up put containers into the VM (or removes the note when none are left).
void note_vm_containers(const Environment& environment, bool any);

// The environment's containers, their ports as the host sees them.
std::vector<agent::ContainerStatus> list_containers(Environment& environment);

// The lcloud-agent program beside this lcloud, else the one in PATH, as an absolute path.
std::filesystem::path agent_binary();

// Progress lines ("==> …") on stderr, unless -q.
providers::Progress progress_printer(const Context& context);

// A table: the first row is the header.
void print_table(const std::vector<std::vector<std::string>>& rows);

// "127.0.0.1:8080->80/tcp" for each published port of a container.
std::string ports_text(const agent::ContainerStatus& status);

} // namespace lcloud::cli

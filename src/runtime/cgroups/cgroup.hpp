#pragma once

// The cgroup of one container, in every hierarchy the runtime uses: the v1 ones (cpu, cpuacct,
// cpuset, memory, pids, blkio, devices, freezer) and cgroup2. Resources go to the v1 controllers
// on v1 and hybrid machines, to cgroup2 on v2 ones; on hybrid machines the cgroup2 directory only
// tracks the processes (and offers cgroup.kill).

#include "runtime/cgroups/files.hpp"
#include "runtime/cgroups/layout.hpp"
#include "runtime/oci/config.hpp"

#include <csignal>
#include <cstdint>
#include <filesystem>
#include <string>
#include <sys/types.h>
#include <vector>

namespace lcloud::runtime::cgroups {

class Cgroup {
  public:
    // Creates the container's cgroup in every hierarchy the runtime uses. `cgroups_path` is the
    // OCI linux.cgroupsPath: absolute (from the hierarchy root), relative (under the runtime's
    // own cgroup, as runc does) or empty (/lcloud/<container_id>). Missing parents are created;
    // v1 cpuset levels get their parent's cpus and mems; on v2 the parents enable the controllers
    // the runtime uses that cgroup.controllers offers. An existing cgroup is reused unless it has
    // processes (then CgroupError: another container owns it). On failure, what was created is
    // removed again.
    static Cgroup create(const std::string& cgroups_path, const std::string& container_id);

    // The same in the given hierarchies (from runtime_hierarchies), for callers and tests that
    // choose them.
    static Cgroup create_in(const std::vector<Hierarchy>& hierarchies, Layout layout,
                            const std::string& cgroups_path, const std::string& container_id);

    // Reopens a cgroup from paths() persisted in the container's state, for exec and delete. The
    // directories need not exist any more (delete after a reboot). Throws CgroupError for a path
    // that is not inside a mounted cgroup hierarchy.
    static Cgroup open(const std::vector<std::string>& paths);

    Cgroup(Cgroup&&) noexcept = default;
    Cgroup& operator=(Cgroup&&) noexcept = default;
    Cgroup(const Cgroup&) = delete;
    Cgroup& operator=(const Cgroup&) = delete;
    // Leaves the cgroup alone: it outlives the runtime process. See CgroupGuard.
    ~Cgroup() = default;

    // Writes the resources. A resource whose controller is missing throws CgroupError naming
    // both. On v1 the device rules replace the current ones: everything is denied, then the rules
    // are written in order (add default_device_rules() for a usable /dev). On v2 the device rules
    // become an eBPF program (apply_device_filter) that replaces the one attached before; an
    // empty rule list attaches nothing, so a new cgroup allows every device and an attached
    // program stays. `unified` entries are written verbatim on v2 and refused on v1 and hybrid
    // machines.
    void apply(const oci::Resources& resources);

    // Moves the process into the cgroup, in every hierarchy.
    void add_process(pid_t pid);
    // For exec: the same as add_process.
    void join(pid_t pid) { add_process(pid); }

    // The processes in the cgroup and its sub-cgroups, sorted, read from the memory (v1) or the
    // cgroup2 hierarchy.
    std::vector<pid_t> pids() const;
    bool has_processes() const { return !pids().empty(); }

    // Sends `signal` to every process in the cgroup and its sub-cgroups, with the cgroup frozen
    // so that none forks meanwhile. For SIGKILL, repeats until the cgroup is empty (cgroup.kill
    // first where cgroup2 offers it), for at most `timeout_ms`; throws CgroupError naming the
    // survivors after that.
    void kill_all(int signal = SIGKILL, int timeout_ms = 5000);

    // kill_all, then removes the directories (sub-cgroups first), retrying while the kernel
    // still reports them busy. Directories that are gone already are fine: calling it again does
    // nothing. Parents (/lcloud) stay, since other containers share them.
    void remove();

    // v1 memory.usage_in_bytes or v2 memory.current; 0 without a memory controller.
    uint64_t memory_usage() const;

    // One directory per hierarchy, to persist and pass to open().
    std::vector<std::string> paths() const;

    // The layout the resources are written for: v2 when the cgroup has only a cgroup2 directory.
    bool uses_v2() const;

    struct Directory {
        std::filesystem::path path;
        bool unified = false;
        std::vector<std::string> controllers; // v1 only
    };

  private:
    Cgroup() = default;

    const Directory* v1(std::string_view controller) const;
    const Directory* v2() const;
    std::vector<pid_t> all_pids() const;
    void signal_once(int signal);
    bool wait_until_empty(int timeout_ms) const;

    std::vector<Directory> directories_;
};

// Removes the cgroup when it goes out of scope unless released: for tests, and for the runtime
// between create and a container that runs.
class CgroupGuard {
  public:
    explicit CgroupGuard(Cgroup cgroup) : cgroup_(std::move(cgroup)) {}
    CgroupGuard(const CgroupGuard&) = delete;
    CgroupGuard& operator=(const CgroupGuard&) = delete;
    ~CgroupGuard();

    Cgroup& get() { return cgroup_; }
    Cgroup* operator->() { return &cgroup_; }
    Cgroup release();

  private:
    Cgroup cgroup_;
    bool armed_ = true;
};

} // namespace lcloud::runtime::cgroups

#pragma once

// Podman (Debian's package) as the benchmarks' peer, on a storage root of its own under the
// work directory, so that it touches none of the host's images or containers. Made to work
// here:
// - no systemd: --cgroup-manager=cgroupfs and --events-backend=file;
// - this sandbox's bounding set lacks CAP_SYS_RESOURCE, and crun cannot set the RLIMIT_NOFILE
//   (1048576) and RLIMIT_NPROC podman asks for by default ("setrlimit RLIMIT_NPROC: Operation
//   not permitted"): containers and builds get explicit --ulimit values, as lcloud's own
//   (RLIMIT_NOFILE 1024);
// - with `own_netns`, every podman command runs in a network namespace made for the run. CNI's
//   bridge plugin, the firewall plugin and iptables-nft leave tables and chains behind for good
//   (`table ip nat`, `table ip filter`, CNI-FORWARD); there they go with the namespace. The
//   work is the same as in the host's namespace.

#include "process.hpp"
#include "workdir.hpp"

#include <cstdio>
#include <fcntl.h>
#include <set>
#include <string>
#include <vector>

namespace lcloud::bench {

class Podman {
  public:
    Podman(const WorkDir& work, bool own_netns) : work_(work), dir_(work.path() / "podman") {
        for (const char* sub : {"root", "run", "tmp", "cni"})
            fs::create_directories(dir_ / sub);
        for (const auto& hierarchy : fs::directory_iterator("/sys/fs/cgroup"))
            if (!fs::exists(hierarchy.path() / "libpod_parent"))
                new_cgroups_.push_back(hierarchy.path() / "libpod_parent");
        if (own_netns) {
            netns_ = "lcloud-bench-" + std::to_string(::getpid());
            run_checked({"ip", "netns", "add", netns_}, work_.options());
            run_checked({"ip", "-n", netns_, "link", "set", "lo", "up"}, work_.options());
            netns_fd_ = ::open(("/run/netns/" + netns_).c_str(), O_RDONLY | O_CLOEXEC);
            if (netns_fd_ < 0) throw std::runtime_error("cannot open /run/netns/" + netns_);
        }
    }
    Podman(const Podman&) = delete;
    Podman& operator=(const Podman&) = delete;
    // Removes every container and network of this root, then what podman keeps outside it.
    ~Podman() {
        try {
            run({"rm", "--all", "--force", "--time", "0"});
            for (const auto& network : networks_)
                run({"network", "rm", "--force", network});
        } catch (const std::exception& error) {
            std::fprintf(stderr, "podman cleanup: %s\n", error.what());
        }
        unmount_below(dir_);
        if (netns_fd_ >= 0) ::close(netns_fd_);
        try {
            if (!netns_.empty()) bench::run({"ip", "netns", "del", netns_}, work_.options());
        } catch (...) {
        }
        std::error_code ignored;
        for (const auto& network : networks_) {
            fs::remove_all("/var/lib/cni/networks/" + network, ignored);
            fs::remove_all("/run/containers/cni/dnsname/" + network, ignored);
        }
        // podman leaves its parent cgroup (and conmon's below it) with cgroupfs.
        for (const auto& cgroup : new_cgroups_) {
            if (!fs::exists(cgroup)) continue;
            for (const auto& child : fs::directory_iterator(cgroup, ignored))
                if (child.is_directory()) ::rmdir(child.path().c_str());
            ::rmdir(cgroup.c_str());
        }
    }

    std::vector<std::string> command(const std::vector<std::string>& args) const {
        std::vector<std::string> argv = {"podman",
                                         "--root",
                                         (dir_ / "root").string(),
                                         "--runroot",
                                         (dir_ / "run").string(),
                                         "--tmpdir",
                                         (dir_ / "tmp").string(),
                                         "--network-config-dir",
                                         (dir_ / "cni").string(),
                                         "--cgroup-manager=cgroupfs",
                                         "--events-backend=file"};
        argv.insert(argv.end(), args.begin(), args.end());
        return argv;
    }
    // buildah's scratch files go to TMPDIR (/var/tmp otherwise).
    RunResult run(const std::vector<std::string>& args) const {
        return bench::run(command(args),
                          work_.options({"TMPDIR=" + (dir_ / "tmp").string()}, netns_fd_));
    }
    RunResult checked(const std::vector<std::string>& args) const {
        RunResult result = run(args);
        if (result.exit_code != 0)
            throw std::runtime_error("failed: " + joined(command(args)) + "\n" + result.output);
        return result;
    }
    // Networks to remove at the end, also from CNI's state outside the root.
    void track_network(const std::string& name) { networks_.insert(name); }
    static std::vector<std::string> ulimits() {
        return {"--ulimit", "nofile=1024:1024", "--ulimit", "nproc=4096:4096"};
    }

  private:
    const WorkDir& work_;
    fs::path dir_;
    std::string netns_;
    int netns_fd_ = -1;
    std::set<std::string> networks_;
    std::vector<fs::path> new_cgroups_;
};

} // namespace lcloud::bench

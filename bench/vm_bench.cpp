// The VM benchmark of issue 5: one VM of the same kind (Debian's kernel and a busybox + dropbear
// initramfs, 1 vCPU, 512 MiB, under TCG, on libvirt's `default` network) driven by lcloud
// (provider libvirt) and by Vagrant 2.3.4 + vagrant-libvirt 0.11.2, the peer of
// /work/shared/peers/vagrant, through the same life, round after round: up from nothing to
// SSH-ready, `ssh true` five times, `status` five times, halt, up from halted, destroy. The
// peers take turns (one VM on the host at a time), which one goes first alternating round by
// round. Prints each step's medians, their ratio lcloud / Vagrant against the targets of issue
// 5, and lcloud's boot to SSH-ready against 8 s.
//
//   build/vm_bench [--rounds 3] [--lcloud PATH] [--data DIR] [--vagrant-work DIR]
//                  [--peer-dir DIR] [--vagrant-default] [--keep-logs]
//
// Caches, kept between runs and never removed by it: lcloud's box lcloud/base in a data
// directory of the benchmark's own (XDG_DATA_HOME=/var/tmp/lcloud-bench-data), built with
// `lcloud box build` when `lcloud box list` lacks it; Vagrant's box baseline/busybox and its
// guest (kernel, initrd) in /var/tmp/lcloud-bench-vagrant, made by the peer's build-box.sh when
// `vagrant box list` lacks it. Neither build is timed.
#include "support/boxes.hpp"
#include "support/leftovers.hpp"
#include "support/libvirt.hpp"
#include "support/logs.hpp"
#include "support/measure.hpp"
#include "support/process.hpp"
#include "support/workdir.hpp"

#include <algorithm>
#include <array>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <memory>
#include <string>
#include <vector>

using namespace lcloud;
using namespace lcloud::bench;

namespace {

enum Step { up_first, up_halted, ssh_true, status, halt, destroy, step_count };

struct StepInfo {
    const char* name;
    const char* lcloud;
    const char* vagrant;
    double target; // lcloud / Vagrant at most
};

const std::array<StepInfo, step_count> steps = {{
    {"up (first)", "lcloud up", "vagrant up", 0.5},
    {"up from halted", "lcloud up", "vagrant up", 0.3},
    {"ssh true", "lcloud ssh -- true", "vagrant ssh -c true", 0.15},
    {"status", "lcloud status", "vagrant status", 0.05},
    {"halt", "lcloud halt", "vagrant halt", 0.5},
    {"destroy", "lcloud destroy", "vagrant destroy -f", 0.5},
}};

constexpr int repeats = 5;         // of ssh true and status, each timed
constexpr double boot_target = 8.; // lcloud's median up (first), seconds
const std::string name_prefix = "lcloud-bench";

struct Options {
    int rounds = 3;
    std::string lcloud = LCLOUD_BINARY;
    fs::path data = "/var/tmp/lcloud-bench-data";
    fs::path vagrant_work = "/var/tmp/lcloud-bench-vagrant";
    fs::path peer_dir = "/work/shared/peers/vagrant";
    bool vagrant_default = false;
    bool keep_logs = false;
};

// One side: its commands for each step, run with stdin from /dev/null, in its project.
class Peer {
  public:
    Peer(std::string name, Logs& logs) : name_(std::move(name)), logs_(logs) {}
    virtual ~Peer() = default;
    const std::string& name() const { return name_; }
    virtual std::vector<std::string> command(Step step) const = 0;
    virtual std::vector<std::string> ssh(const std::string& line) const = 0;
    virtual std::vector<std::string> env() const = 0;
    // The libvirt domain of its VM.
    virtual std::string domain() = 0;

    RunResult run_step(const std::string& label, const std::vector<std::string>& argv,
                       bool check = true) {
        auto options = logs_.options(name_ + "-" + label, env());
        auto result = check ? run_checked(argv, options) : run(argv, options);
        return result;
    }
    double timed(Step step) {
        const double ms = run_step(steps[step].name, command(step)).wall_ms;
        samples[step].push_back(ms / 1000);
        return ms;
    }
    // Whatever a failed round left: the VM destroyed, unchecked.
    void clean() {
        try {
            run_step("cleanup destroy", command(destroy), false);
        } catch (const std::exception& error) {
            std::fprintf(stderr, "cleanup of %s: %s\n", name_.c_str(), error.what());
        }
    }

    std::array<std::vector<double>, step_count> samples;

  private:
    std::string name_;
    Logs& logs_;
};

class LcloudPeer : public Peer {
  public:
    LcloudPeer(const Options& options, const WorkDir& work, Logs& logs)
        : Peer("lcloud", logs), options_(options), dir_(work.path() / "lcloud") {
        fs::create_directories(dir_);
        std::ofstream(dir_ / "lcloud.yaml") << "name: bench\n"
                                               "provider: libvirt\n"
                                               "vm:\n"
                                               "  cpus: 1\n"
                                               "  memory: 512MiB\n"
                                               "  disk: 2GiB\n"
                                               // The VM alone, as Vagrant's side is.
                                               "containers: {}\n";
    }
    std::vector<std::string> lcloud(std::vector<std::string> args) const {
        std::vector<std::string> argv = {options_.lcloud, "-C", dir_.string()};
        argv.insert(argv.end(), args.begin(), args.end());
        return argv;
    }
    std::vector<std::string> command(Step step) const override {
        switch (step) {
        case up_first:
        case up_halted:
            return lcloud({"up"});
        case ssh_true:
            return lcloud({"ssh", "--", "true"});
        case status:
            return lcloud({"status"});
        case halt:
            return lcloud({"halt"});
        default:
            return lcloud({"destroy"});
        }
    }
    std::vector<std::string> ssh(const std::string& line) const override {
        return lcloud({"ssh", "--", line});
    }
    std::vector<std::string> env() const override {
        return {"XDG_DATA_HOME=" + options_.data.string()};
    }
    // The domain's name, from `lcloud status` ("VM  STATE ..." then the VM's line).
    std::string domain() override {
        const auto lines =
            output_lines(run_step("status (domain name)", lcloud({"status"})).output);
        for (const auto& line : lines)
            if (line.rfind(name_prefix, 0) == 0) return line.substr(0, line.find(' '));
        throw std::runtime_error("no domain in `lcloud status`");
    }

  private:
    const Options& options_;
    fs::path dir_;
};

class VagrantPeer : public Peer {
  public:
    // `guest` is VB_GUEST: "linux" (no guest detection) or "" (Vagrant's default).
    VagrantPeer(const Options& options, const WorkDir& work, Logs& logs, std::string guest)
        : Peer(guest.empty() ? "vagrant-default" : "vagrant", logs), options_(options),
          guest_(std::move(guest)) {
        // The domain is named after the directory: lcloud-bench-vagrant[-default]_default.
        dir_ = work.path() / (name_prefix + "-" + name());
        fs::create_directories(dir_);
        fs::copy_file(options.peer_dir / "Vagrantfile", dir_ / "Vagrantfile");
    }
    std::vector<std::string> command(Step step) const override {
        switch (step) {
        case up_first:
        case up_halted:
            return {"vagrant", "up"};
        case ssh_true:
            return {"vagrant", "ssh", "-c", "true"};
        case status:
            return {"vagrant", "status"};
        case halt:
            return {"vagrant", "halt"};
        default:
            return {"vagrant", "destroy", "-f"};
        }
    }
    std::vector<std::string> ssh(const std::string& line) const override {
        return {"vagrant", "ssh", "-c", line};
    }
    std::vector<std::string> env() const override {
        return {"VAGRANT_CWD=" + dir_.string(), "VAGRANT_DEFAULT_PROVIDER=libvirt",
                "VAGRANT_CHECKPOINT_DISABLE=1",
                "VB_GUEST_DIR=" + (options_.vagrant_work / "guest").string(), "VB_GUEST=" + guest_};
    }
    std::string domain() override { return dir_.filename().string() + "_default"; }

  private:
    const Options& options_;
    std::string guest_;
    fs::path dir_;
};

// The boxes, built once and kept: neither build is in the timings.
void ensure_boxes(const Options& options, Logs& logs) {
    ensure_lcloud_box(options.lcloud, options.data, logs);
    ensure_vagrant_box(options.peer_dir, options.vagrant_work, logs);
}

// The line the check command printed ("CHECK kernel cpus memtotal-kB"), from a command's output.
std::string check_line(const std::string& output) {
    for (const auto& line : output_lines(output))
        if (line.rfind("CHECK ", 0) == 0) return line.substr(6);
    throw std::runtime_error("no CHECK line in:\n" + output);
}

// Untimed, first: each side boots once (page caches, Vagrant's first upload of its box image
// into the pool `default`), and both run the same guest.
void warm_up(Peer& peer, const WorkDir& work) {
    peer.run_step("warm-up up", peer.command(up_first));
    const std::string domain = peer.domain();
    const std::string line = check_line(
        peer.run_step("warm-up check",
                      peer.ssh("echo CHECK $(uname -r) $(grep -c ^processor /proc/cpuinfo) "
                               "$(awk '/MemTotal/ {print $2}' /proc/meminfo)"))
            .output);
    std::printf("  check: %-15s guest: kernel, vCPUs, MemTotal kB: %s; libvirt domain %s type "
                "%s\n",
                peer.name().c_str(), line.c_str(), domain.c_str(),
                domain_type(work, domain).c_str());
    peer.run_step("warm-up destroy", peer.command(destroy));
}

// One round of one side, each command starting from the state it needs.
void cycle(Peer& peer) {
    throw_if_interrupted();
    peer.timed(up_first);
    for (int i = 0; i < repeats; ++i)
        peer.timed(ssh_true);
    for (int i = 0; i < repeats; ++i)
        peer.timed(status);
    throw_if_interrupted();
    peer.timed(halt);
    peer.timed(up_halted);
    throw_if_interrupted();
    peer.timed(destroy); // of the running VM
}

// The table of issue 5; returns whether every target was met.
bool print_table(const Peer& lcloud, const Peer& vagrant, bool verdicts) {
    std::printf("%-16s %-20s %10s  %-20s %10s  %7s  %7s  %s\n", "step", "lcloud command", "median",
                "vagrant command", "median", "ratio", "target", verdicts ? "verdict" : "");
    bool all = true;
    for (int step = 0; step < step_count; ++step) {
        const double ours = median(lcloud.samples[step]), theirs = median(vagrant.samples[step]);
        const double ratio = ours / theirs;
        const bool ok = ratio <= steps[step].target;
        all = all && ok;
        std::printf("%-16s %-20s %8.3f s  %-20s %8.3f s  %7.3f  <= %4.2f  %s\n", steps[step].name,
                    steps[step].lcloud, ours, steps[step].vagrant, theirs, ratio,
                    steps[step].target, verdicts ? (ok ? "ok" : "MISSED") : "");
    }
    return all;
}

void print_samples(const Peer& peer) {
    std::printf("  %s:\n", peer.name().c_str());
    for (int step = 0; step < step_count; ++step) {
        std::printf("    %-16s", steps[step].name);
        for (const double seconds : peer.samples[step])
            std::printf(" %.3f", seconds);
        std::printf("\n");
    }
}

int run_bench(const Options& options, const WorkDir& work, Logs& logs) {
    ensure_libvirt(work);
    const auto before = vm_traces(work, {name_prefix}, {"lcloud", "default"});
    if (!before.empty()) {
        std::string list;
        for (const auto& item : before)
            list += "\n  " + item;
        throw std::runtime_error("the host already has VMs named " + name_prefix +
                                 "* (remove them first):" + list);
    }
    ensure_boxes(options, logs);

    LcloudPeer lcloud(options, work, logs);
    VagrantPeer vagrant(options, work, logs, "linux");
    std::unique_ptr<VagrantPeer> vagrant_default;
    if (options.vagrant_default)
        vagrant_default = std::make_unique<VagrantPeer>(options, work, logs, "");
    ScopeExit clean([&] {
        lcloud.clean();
        vagrant.clean();
        if (vagrant_default) vagrant_default->clean();
    });
    std::vector<Peer*> peers = {&lcloud, &vagrant};
    if (vagrant_default) peers.push_back(vagrant_default.get());

    std::printf("one VM (1 vCPU, 512 MiB, TCG, Debian's kernel + busybox/dropbear initramfs) "
                "through its life, %d rounds, the peers taking turns (which goes first "
                "alternates); Vagrant with VB_GUEST=linux (config.vm.guest = :linux, its faster "
                "variant: no guest detection)%s\n",
                options.rounds,
                vagrant_default ? ", and also Vagrant's default (guest detected), as "
                                  "vagrant-default"
                                : "");
    std::printf("warm-up (untimed): up, a check in the guest, destroy\n");
    for (Peer* peer : peers) {
        throw_if_interrupted();
        warm_up(*peer, work);
    }

    for (int round = 0; round < options.rounds; ++round) {
        std::vector<Peer*> order = peers;
        if (round % 2) std::reverse(order.begin(), order.end());
        for (Peer* peer : order) {
            const auto start = Clock::now();
            cycle(*peer);
            std::printf("  round %d/%d: %-15s up %.2f s, up from halted %.2f s (its turn: "
                        "%.1f s)\n",
                        round + 1, options.rounds, peer->name().c_str(),
                        peer->samples[up_first].back(), peer->samples[up_halted].back(),
                        ms_since(start) / 1000);
        }
    }

    std::printf("\nsamples (seconds):\n");
    for (Peer* peer : peers)
        print_samples(*peer);
    std::printf("\nmedians over %d rounds (ssh true and status: %d each a round); Vagrant with "
                "VB_GUEST=linux\n",
                options.rounds, repeats);
    bool met = print_table(lcloud, vagrant, true);
    const double boot = median(lcloud.samples[up_first]);
    const bool boot_ok = boot <= boot_target;
    std::printf("%-16s lcloud up, from nothing to SSH-ready: median %.3f s (up from halted: "
                "%.3f s), target <= %.0f s: %s\n",
                "boot", boot, median(lcloud.samples[up_halted]), boot_target,
                boot_ok ? "ok" : "MISSED");
    if (vagrant_default) {
        std::printf("\nfor information: against Vagrant's default (VB_GUEST unset, guest "
                    "detected)\n");
        print_table(lcloud, *vagrant_default, false);
    }
    return met && boot_ok ? 0 : 2;
}

int usage() {
    std::fprintf(stderr, "usage: vm_bench [--rounds N] [--lcloud PATH] [--data DIR] "
                         "[--vagrant-work DIR] [--peer-dir DIR] [--vagrant-default] "
                         "[--keep-logs]\n");
    return 2;
}

} // namespace

int main(int argc, char** argv) {
    Options options;
    for (int i = 1; i < argc; ++i) {
        const std::string flag = argv[i];
        const bool has_value = i + 1 < argc;
        if (flag == "--vagrant-default")
            options.vagrant_default = true;
        else if (flag == "--keep-logs")
            options.keep_logs = true;
        else if (!has_value)
            return usage();
        else if (flag == "--rounds")
            options.rounds = std::atoi(argv[++i]);
        else if (flag == "--lcloud")
            options.lcloud = fs::absolute(argv[++i]).string();
        else if (flag == "--data")
            options.data = fs::absolute(argv[++i]);
        else if (flag == "--vagrant-work")
            options.vagrant_work = fs::absolute(argv[++i]);
        else if (flag == "--peer-dir")
            options.peer_dir = fs::absolute(argv[++i]);
        else
            return usage();
    }
    if (options.rounds < 1) return usage();
    std::setvbuf(stdout, nullptr, _IOLBF, 0);
    unwind_on_interrupt();
    int exit_code = 0;
    WorkDir work("lcloud-vm-bench");
    // qemu reads the console log of lcloud's VM under it.
    fs::permissions(work.path(), fs::perms::owner_all | fs::perms::group_read |
                                     fs::perms::group_exec | fs::perms::others_read |
                                     fs::perms::others_exec);
    Logs logs(work);
    std::printf("lcloud: %s; its data (box cache): XDG_DATA_HOME=%s; Vagrant's guest: %s; logs: "
                "%s\n",
                options.lcloud.c_str(), options.data.c_str(),
                (options.vagrant_work / "guest").c_str(), logs.dir().c_str());
    const auto before = host_state(work);
    try {
        exit_code = run_bench(options, work, logs);
    } catch (const std::exception& error) {
        std::fprintf(stderr, "vm_bench: %s\n", error.what());
        exit_code = 1;
    }
    Leftovers left;
    left.add_new(before, host_state(work));
    for (const auto& trace : vm_traces(work, {name_prefix}, {"lcloud", "default"}))
        left.add_if(true, trace);
    const bool clean = left.report("libvirt domain, volume, DHCP reservation, qemu or other "
                                   "process, link or cgroup");
    if (!clean) exit_code = 1;
    if (exit_code == 1 || options.keep_logs) {
        work.keep();
        std::printf("logs kept in %s\n", logs.dir().c_str());
    }
    return exit_code;
}

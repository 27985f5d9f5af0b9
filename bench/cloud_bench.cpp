// The benchmark of issue 6: the whole example (templates/localcloud: master, two nodes and
// haproxy, built in the VM) brought up by lcloud with provider libvirt, side by side in the same
// run with Vagrant 2.3.4 + vagrant-libvirt 0.11.2 bringing up the bare guest of
// /work/shared/peers/vagrant (no containers at all). Each round, the peers taking turns (one VM
// on the host at a time, which goes first alternating round by round):
//
//   lcloud:  up (cold) -> serving, status x5, no-op up x3, reset -> serving (when `lcloud reset`
//            exists), halt, up from halted -> serving, destroy;
//   Vagrant: up (cold), halt, up from halted, destroy.
//
// lcloud's cold up is that of a checkout whose environment was destroyed before: no VM, no disk,
// but the images and the boot checkpoint that destroy keeps (as `docker compose down` keeps
// images). The very first up of the checkout, which builds the images in the VM (haproxy's
// apt-get under TCG), is the untimed warm-up, whose time is printed.
//
// "Serving" is an HTTP GET of 127.0.0.1:PORT answered by a node through haproxy with the
// round's message; such a step is timed from launching the command to the first good answer
// (polled every 50 ms once the command has returned). Prints each step's medians, the ratios
// lcloud / Vagrant and the targets of issue 6; exits 2 when a target is missed, 1 when the run
// failed or left something behind.
//
//   build/cloud_bench [--rounds 3] [--lcloud PATH] [--example DIR] [--port 8080] [--data DIR]
//                     [--vagrant-work DIR] [--peer-dir DIR] [--keep-logs]
//
// Caches, kept between runs and never removed by it (as vm_bench's): lcloud's box in
// XDG_DATA_HOME=/var/tmp/lcloud-bench-data, the base image lcloud/debian:bookworm in the host's
// image store, Vagrant's box and guest in /var/tmp/lcloud-bench-vagrant. None is timed.
#include "support/boxes.hpp"
#include "support/http.hpp"
#include "support/leftovers.hpp"
#include "support/libvirt.hpp"
#include "support/logs.hpp"
#include "support/measure.hpp"
#include "support/process.hpp"
#include "support/workdir.hpp"

#include <algorithm>
#include <array>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <netinet/in.h>
#include <random>
#include <set>
#include <sstream>
#include <string>
#include <sys/socket.h>
#include <thread>
#include <unistd.h>
#include <vector>

using namespace lcloud;
using namespace lcloud::bench;

namespace {

enum Step { up_cold, status, up_noop, reset, halt, up_halted, destroy, step_count };

struct StepInfo {
    const char* name;
    const char* lcloud;    // what lcloud's sample covers
    const char* vagrant;   // Vagrant's counterpart, or nullptr
    double ratio_target;   // lcloud / Vagrant at most; 0: none
    double seconds_target; // lcloud's median at most (below it when `strict`); 0: none
    bool strict;
};

// The targets of issue 6 under TCG. Halt has none; its ratio is printed for information.
const std::array<StepInfo, step_count> steps = {{
    {"up (cold)", "up -> serving", "vagrant up", 0.6, 0, false},
    {"status", "lcloud status", nullptr, 0, 0.1, true},
    {"no-op up", "lcloud up", nullptr, 0, 0.3, true},
    {"reset", "reset -> serving", nullptr, 0, 5, false},
    {"halt", "lcloud halt", "vagrant halt", 0, 0, false},
    {"up from halted", "up -> serving", "vagrant up", 0.3, 0, false},
    {"destroy", "lcloud destroy", "vagrant destroy -f", 0, 2, false},
}};

constexpr int status_repeats = 5; // each timed; cheap, and one sample of 20 ms says little
constexpr int noop_repeats = 3;
constexpr auto poll_interval = std::chrono::milliseconds(50);
// How long the example may take to serve once `up` has returned: up waits for the nodes'
// health before it starts haproxy, so this is haproxy's start and its first health checks.
constexpr auto serving_limit = std::chrono::seconds(60);

// The example's project is renamed so that its VM is lcloud-cloudbench-HASH and Vagrant's
// lcloud-cloudbench-vagrant_default: the leftover checks then cannot mistake anyone else's
// localcloud (or vm_bench's lcloud-bench-*) for ours.
const std::string project_name = "cloudbench";
const std::string name_prefix = "lcloud-" + project_name;
const std::string base_image = "lcloud/debian:bookworm";
const fs::path checkpoints = "/var/lib/lcloud/checkpoints";
const fs::path image_caches = "/var/lib/lcloud/image-cache";

struct Options {
    int rounds = 3;
    std::string lcloud = LCLOUD_BINARY;
    fs::path example = LCLOUD_EXAMPLE_DIR;
    uint16_t port = 8080;
    fs::path data = "/var/tmp/lcloud-bench-data";
    fs::path vagrant_work = "/var/tmp/lcloud-bench-vagrant";
    fs::path peer_dir = "/work/shared/peers/vagrant";
    bool keep_logs = false;
};

// Whether a listener could take 127.0.0.1:PORT now. SO_REUSEADDR, as the forwarder's own
// listener has it, so that connections of the last round in TIME_WAIT do not count.
bool port_free(uint16_t port) {
    const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) return false;
    const int one = 1;
    ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_port = htons(port);
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    const bool free = ::bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof address) == 0;
    ::close(fd);
    return free;
}

// The example's port when it is free, else the first free one of the 100 after 18080 (the
// machine is shared: someone may be running the example itself); said when it moves.
uint16_t choose_port(uint16_t wanted) {
    if (port_free(wanted)) return wanted;
    for (uint16_t port = 18080; port < 18180; ++port)
        if (port_free(port)) {
            std::printf("  note: 127.0.0.1:%u is taken; the example publishes %u instead\n", wanted,
                        port);
            return port;
        }
    throw std::runtime_error("127.0.0.1:" + std::to_string(wanted) +
                             " is taken, and so is every port of 18080-18179");
}

std::string read_text(const fs::path& file) {
    std::ostringstream text;
    text << std::ifstream(file).rdbuf();
    return text.str();
}

// Replaces the one occurrence of `from`; throws when the file has none, so that a changed
// example stops the benchmark rather than run something else.
void replace_once(std::string& text, const std::string& from, const std::string& to,
                  const fs::path& file) {
    const auto at = text.find(from);
    if (at == std::string::npos)
        throw std::runtime_error(file.string() + " no longer has `" + from +
                                 "`: cloud_bench rewrites it (name, host port)");
    text.replace(at, from.size(), to);
}

// A poll's pause; Ctrl-C ends the wait there.
void pause_for(std::chrono::milliseconds duration) {
    std::this_thread::sleep_for(duration);
    throw_if_interrupted();
}

// lcloud's side: one copy of the example, as a developer's checkout, brought up and destroyed
// round after round. The warm-up's up is its first ever (the images built in the VM, untimed);
// every round's cold up comes after a destroy, which keeps the images and the boot checkpoint.
class LcloudSide {
  public:
    LcloudSide(const Options& options, const WorkDir& work, Logs& logs)
        : options_(options), work_(work), logs_(logs) {}

    // The first time, copies the example into work/example, renamed, its host port rewritten;
    // each time, a new message for `name` (the round).
    void begin(const std::string& name) {
        if (dir_.empty()) copy_example();
        // Unique to the round, so that only this round's nodes can give a good answer.
        std::random_device random;
        message_ = "cloud_bench " + name + " " + std::to_string(random());
        std::ofstream(dir_ / "src/message.txt") << message_ << "\n";
    }

    void copy_example() {
        dir_ = work_.path() / "example";
        fs::create_directories(dir_);
        for (const auto& entry : fs::directory_iterator(options_.example))
            if (entry.path().filename() != ".lcloud") // someone's state, if they ran it there
                fs::copy(entry.path(), dir_ / entry.path().filename(),
                         fs::copy_options::recursive | fs::copy_options::copy_symlinks);
        dirs_.push_back(dir_);
        port_ = choose_port(options_.port);
        ports_used.insert(port_);
        const fs::path file = dir_ / "lcloud.yaml";
        std::string yaml = read_text(file);
        replace_once(yaml, "\nname: localcloud\n", "\nname: " + project_name + "\n", file);
        replace_once(yaml, "\"8080:80\"", "\"" + std::to_string(port_) + ":80\"", file);
        std::ofstream(file) << yaml;
    }

    std::vector<std::string> lcloud(std::vector<std::string> args) const {
        std::vector<std::string> argv = {options_.lcloud, "-C", dir_.string()};
        argv.insert(argv.end(), args.begin(), args.end());
        return argv;
    }
    std::vector<std::string> env() const { return {"XDG_DATA_HOME=" + options_.data.string()}; }

    RunResult run_step(const std::string& label, const std::vector<std::string>& args,
                       bool check = true) {
        auto run_options = logs_.options("lcloud-" + label, env());
        return check ? run_checked(lcloud(args), run_options) : run(lcloud(args), run_options);
    }

    // Polls until a node answers with the round's message; the milliseconds since `start`.
    double wait_serving(Clock::time_point start, const std::string& label) {
        const auto deadline = Clock::now() + serving_limit;
        std::string last = "nothing answered";
        for (;;) {
            const auto answer = http_get(port_, "/", std::chrono::milliseconds(2000));
            if (answer) {
                // "node-N: MESSAGE", through haproxy
                const bool good = answer->status == 200 && answer->body.rfind("node-", 0) == 0 &&
                                  answer->body.find(": " + message_) != std::string::npos;
                if (good) return ms_since(start);
                last = "HTTP " + std::to_string(answer->status) + ": " + answer->body;
            }
            if (Clock::now() > deadline)
                throw std::runtime_error(label + ": 127.0.0.1:" + std::to_string(port_) +
                                         " does not serve the example " +
                                         std::to_string(serving_limit.count()) +
                                         " s after the command returned; last: " + last);
            pause_for(poll_interval);
        }
    }

    // A command, then the wait until the example serves; timed from the command's launch.
    double to_serving(const std::string& label, const std::vector<std::string>& args) {
        const auto start = Clock::now();
        run_step(label, args);
        return wait_serving(start, label);
    }

    void timed_to_serving(Step step, const std::vector<std::string>& args) {
        samples[step].push_back(to_serving(steps[step].name, args) / 1000);
    }
    RunResult timed(Step step, const std::vector<std::string>& args) {
        auto result = run_step(steps[step].name, args);
        samples[step].push_back(result.wall_ms / 1000);
        return result;
    }

    // The domain's name, from `lcloud status` ("VM  STATE ..." then the VM's line).
    std::string domain() {
        for (const auto& line : output_lines(run_step("status (domain name)", {"status"}).output))
            if (line.rfind(name_prefix, 0) == 0) return line.substr(0, line.find(' '));
        throw std::runtime_error("no domain in `lcloud status`");
    }

    // Whatever a failed round (or the warm-up) left, and the images and checkpoint the rounds'
    // destroy kept: the environment destroyed with them, unchecked.
    void clean() {
        for (const auto& dir : dirs_) {
            dir_ = dir;
            try {
                run_step("cleanup destroy", {"destroy", "--images"}, false);
            } catch (const std::exception& error) {
                std::fprintf(stderr, "cleanup of lcloud in %s: %s\n", dir.c_str(), error.what());
            }
        }
    }

    uint16_t port() const { return port_; }
    std::array<std::vector<double>, step_count> samples;
    std::set<uint16_t> ports_used;

  private:
    const Options& options_;
    const WorkDir& work_;
    Logs& logs_;
    fs::path dir_;
    std::vector<fs::path> dirs_;
    uint16_t port_ = 0;
    std::string message_;
};

// Vagrant's side: the bare guest of the peer's Vagrantfile, VB_GUEST=linux (its faster variant,
// as vm_bench's table), in a project directory whose name makes the domain
// lcloud-cloudbench-vagrant_default.
class VagrantSide {
  public:
    VagrantSide(const Options& options, const WorkDir& work, Logs& logs)
        : options_(options), logs_(logs), dir_(work.path() / (name_prefix + "-vagrant")) {
        fs::create_directories(dir_);
        fs::copy_file(options.peer_dir / "Vagrantfile", dir_ / "Vagrantfile");
    }
    std::vector<std::string> env() const {
        return {"VAGRANT_CWD=" + dir_.string(), "VAGRANT_DEFAULT_PROVIDER=libvirt",
                "VAGRANT_CHECKPOINT_DISABLE=1",
                "VB_GUEST_DIR=" + (options_.vagrant_work / "guest").string(), "VB_GUEST=linux"};
    }
    RunResult run_step(const std::string& label, const std::vector<std::string>& argv,
                       bool check = true) {
        auto run_options = logs_.options("vagrant-" + label, env());
        return check ? run_checked(argv, run_options) : run(argv, run_options);
    }
    void timed(Step step, const std::vector<std::string>& argv) {
        samples[step].push_back(run_step(steps[step].name, argv).wall_ms / 1000);
    }
    std::string domain() const { return dir_.filename().string() + "_default"; }
    void clean() {
        try {
            run_step("cleanup destroy", {"vagrant", "destroy", "-f"}, false);
        } catch (const std::exception& error) {
            std::fprintf(stderr, "cleanup of vagrant: %s\n", error.what());
        }
    }

    std::array<std::vector<double>, step_count> samples;

  private:
    const Options& options_;
    Logs& logs_;
    fs::path dir_;
};

// The base image the example's Containerfiles start FROM, in the host's store (the VM copies it
// from there): `lcloud image bootstrap` when it is missing, untimed, as vm_bench builds the box.
void ensure_base_image(const Options& options, Logs& logs) {
    if (run({options.lcloud, "image", "inspect", base_image},
            logs.options("setup-image-inspect", {}))
            .exit_code == 0)
        return;
    std::printf("setup: lcloud image bootstrap %s --include busybox (about 30 s), untimed\n",
                base_image.c_str());
    run_checked({options.lcloud, "image", "bootstrap", base_image, "--include", "busybox"},
                logs.options("setup-image-bootstrap", {}));
}

// An lcloud given with --lcloud may predate `reset`; it is measured where the verb exists.
// The exit code of `lcloud reset --help` alone cannot tell: CLI11 answers a --help after an
// unknown word with the program's own help, and 0. A verb's help says "Usage: lcloud reset".
bool reset_available(const Options& options, Logs& logs) {
    const auto result =
        run({options.lcloud, "reset", "--help"}, logs.options("setup-reset-help", {}));
    return result.exit_code == 0 && result.output.find("Usage: lcloud reset") != std::string::npos;
}

// Untimed, first: each side once (page caches, the host side of the image copy, Vagrant's
// first upload of its box image), and a look at both guests' domain type.
void warm_up(LcloudSide& lcloud, VagrantSide& vagrant, const WorkDir& work) {
    lcloud.begin("warm-up");
    const double serving = lcloud.to_serving("warm-up up", {"up"});
    const std::string domain = lcloud.domain();
    std::printf("  lcloud:  first up (its images built in the VM) -> serving on 127.0.0.1:%u "
                "in %.1f s (untimed); domain %s, type %s\n",
                lcloud.port(), serving / 1000, domain.c_str(), domain_type(work, domain).c_str());
    lcloud.run_step("warm-up destroy", {"destroy"});
    throw_if_interrupted();
    vagrant.run_step("warm-up up", {"vagrant", "up"});
    std::printf("  vagrant: up; domain %s, type %s\n", vagrant.domain().c_str(),
                domain_type(work, vagrant.domain()).c_str());
    vagrant.run_step("warm-up destroy", {"vagrant", "destroy", "-f"});
}

void lcloud_round(LcloudSide& lcloud, int round, bool with_reset) {
    lcloud.begin("round-" + std::to_string(round));
    throw_if_interrupted();
    lcloud.timed_to_serving(up_cold, {"up"});
    for (int i = 0; i < status_repeats; ++i)
        lcloud.timed(status, {"status"});
    throw_if_interrupted();
    for (int i = 0; i < noop_repeats; ++i) {
        const auto result = lcloud.timed(up_noop, {"up"});
        if (result.output.find("nothing was restarted") == std::string::npos)
            throw std::runtime_error("a second `lcloud up` did not say \"nothing was "
                                     "restarted\":\n" +
                                     result.output);
    }
    throw_if_interrupted();
    if (with_reset) lcloud.timed_to_serving(reset, {"reset"});
    throw_if_interrupted();
    lcloud.timed(halt, {"halt"});
    lcloud.timed_to_serving(up_halted, {"up"});
    throw_if_interrupted();
    lcloud.timed(destroy, {"destroy"}); // of the running environment
}

void vagrant_round(VagrantSide& vagrant) {
    throw_if_interrupted();
    vagrant.timed(up_cold, {"vagrant", "up"});
    vagrant.timed(halt, {"vagrant", "halt"});
    throw_if_interrupted();
    vagrant.timed(up_halted, {"vagrant", "up"});
    vagrant.timed(destroy, {"vagrant", "destroy", "-f"});
}

void print_samples(const char* name, const std::array<std::vector<double>, step_count>& samples) {
    std::printf("  %s:\n", name);
    for (int step = 0; step < step_count; ++step) {
        if (samples[step].empty()) continue;
        std::printf("    %-16s", steps[step].name);
        for (const double seconds : samples[step])
            std::printf(" %.3f", seconds);
        std::printf("\n");
    }
}

// The table of issue 6; returns whether every target that could be measured was met.
bool print_table(const LcloudSide& lcloud, const VagrantSide& vagrant) {
    std::printf("%-16s %-18s %10s  %-20s %10s  %7s  %-14s %s\n", "step", "lcloud", "median",
                "Vagrant (bare VM)", "median", "ratio", "target", "verdict");
    bool all = true;
    char cell[64];
    for (int step = 0; step < step_count; ++step) {
        const StepInfo& info = steps[step];
        if (lcloud.samples[step].empty()) {
            std::printf("%-16s %-18s %10s\n", info.name, info.lcloud, "not available");
            continue;
        }
        const double ours = median(lcloud.samples[step]);
        std::string theirs = "", ratio = "";
        double ratio_value = 0;
        if (info.vagrant) {
            const double value = median(vagrant.samples[step]);
            ratio_value = ours / value;
            std::snprintf(cell, sizeof cell, "%8.3f s", value);
            theirs = cell;
            std::snprintf(cell, sizeof cell, "%7.3f", ratio_value);
            ratio = cell;
        }
        std::string target = "-";
        bool ok = true;
        if (info.ratio_target > 0) {
            std::snprintf(cell, sizeof cell, "ratio <= %.1f", info.ratio_target);
            target = cell;
            ok = ratio_value <= info.ratio_target;
        } else if (info.seconds_target > 0) {
            std::snprintf(cell, sizeof cell, "%s %.1f s",
                          info.strict ? "<" : "<=", info.seconds_target);
            target = cell;
            ok = info.strict ? ours < info.seconds_target : ours <= info.seconds_target;
        }
        all = all && ok;
        char line[256];
        std::snprintf(line, sizeof line, "%-16s %-18s %8.3f s  %-20s %10s  %7s  %-14s %s",
                      info.name, info.lcloud, ours, info.vagrant ? info.vagrant : "-",
                      theirs.c_str(), ratio.c_str(), target.c_str(),
                      target == "-" ? ""
                      : ok          ? "ok"
                                    : "MISSED");
        std::string text = line;
        text.erase(text.find_last_not_of(' ') + 1); // a row without a verdict
        std::printf("%s\n", text.c_str());
    }
    return all;
}

int run_bench(const Options& options, const WorkDir& work, Logs& logs, LcloudSide& lcloud,
              VagrantSide& vagrant) {
    ensure_libvirt(work);
    const auto before = vm_traces(work, {name_prefix}, {"lcloud", "default"});
    if (!before.empty()) {
        std::string list;
        for (const auto& item : before)
            list += "\n  " + item;
        throw std::runtime_error("the host already has VMs named " + name_prefix +
                                 "* (remove them first):" + list);
    }
    ensure_lcloud_box(options.lcloud, options.data, logs);
    ensure_base_image(options, logs);
    ensure_vagrant_box(options.peer_dir, options.vagrant_work, logs);
    const bool with_reset = reset_available(options, logs);

    std::printf("the example (%s: master, 2 nodes, haproxy; its VM 2 vCPUs, 2 GiB) with lcloud, "
                "provider libvirt, against Vagrant bringing up the bare guest (1 vCPU, 512 MiB, "
                "no containers; VB_GUEST=linux), under TCG; %d round%s, the sides taking turns "
                "(which goes first alternates); \"serving\": a node's answer through haproxy on "
                "127.0.0.1, polled every %lld ms once the command has returned\n",
                options.example.c_str(), options.rounds, options.rounds == 1 ? "" : "s",
                static_cast<long long>(poll_interval.count()));
    if (!with_reset)
        std::printf("reset: not available (`lcloud reset --help` does not show the verb's "
                    "help)\n");
    std::printf("warm-up (untimed): each side up and destroy\n");
    warm_up(lcloud, vagrant, work);

    for (int round = 1; round <= options.rounds; ++round)
        for (int turn = 0; turn < 2; ++turn) {
            const auto start = Clock::now();
            const bool lcloud_turn = (turn == 0) == (round % 2 == 1);
            if (lcloud_turn)
                lcloud_round(lcloud, round, with_reset);
            else
                vagrant_round(vagrant);
            const auto& samples = lcloud_turn ? lcloud.samples : vagrant.samples;
            std::printf("  round %d/%d: %-7s up (cold) %.2f s, up from halted %.2f s (its turn: "
                        "%.1f s)\n",
                        round, options.rounds, lcloud_turn ? "lcloud" : "vagrant",
                        samples[up_cold].back(), samples[up_halted].back(), ms_since(start) / 1000);
        }

    std::printf("\nsamples (seconds):\n");
    print_samples("lcloud", lcloud.samples);
    print_samples("vagrant", vagrant.samples);
    std::printf("\nmedians over %d round%s (status %d and no-op up %d times a round); lcloud's "
                "\"-> serving\" steps end at the example's first good answer\n",
                options.rounds, options.rounds == 1 ? "" : "s", status_repeats, noop_repeats);
    return print_table(lcloud, vagrant) ? 0 : 2;
}

int usage() {
    std::fprintf(stderr, "usage: cloud_bench [--rounds N] [--lcloud PATH] [--example DIR] "
                         "[--port PORT] [--data DIR] [--vagrant-work DIR] [--peer-dir DIR] "
                         "[--keep-logs]\n");
    return 2;
}

} // namespace

int main(int argc, char** argv) {
    Options options;
    for (int i = 1; i < argc; ++i) {
        const std::string flag = argv[i];
        const bool has_value = i + 1 < argc;
        if (flag == "--keep-logs")
            options.keep_logs = true;
        else if (!has_value)
            return usage();
        else if (flag == "--rounds")
            options.rounds = std::atoi(argv[++i]);
        else if (flag == "--lcloud")
            options.lcloud = fs::absolute(argv[++i]).string();
        else if (flag == "--example")
            options.example = fs::absolute(argv[++i]);
        else if (flag == "--port")
            options.port = static_cast<uint16_t>(std::atoi(argv[++i]));
        else if (flag == "--data")
            options.data = fs::absolute(argv[++i]);
        else if (flag == "--vagrant-work")
            options.vagrant_work = fs::absolute(argv[++i]);
        else if (flag == "--peer-dir")
            options.peer_dir = fs::absolute(argv[++i]);
        else
            return usage();
    }
    if (options.rounds < 1 || options.port == 0) return usage();
    std::setvbuf(stdout, nullptr, _IOLBF, 0);
    unwind_on_interrupt();
    int exit_code = 0;
    WorkDir work("lcloud-cloud-bench");
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
    std::set<uint16_t> ports_used;
    try {
        LcloudSide lcloud(options, work, logs);
        VagrantSide vagrant(options, work, logs);
        // Destroys each side's environments however the run ends (a failure, Ctrl-C).
        ScopeExit clean([&] {
            lcloud.clean();
            vagrant.clean();
            ports_used = lcloud.ports_used;
        });
        exit_code = run_bench(options, work, logs, lcloud, vagrant);
    } catch (const std::exception& error) {
        std::fprintf(stderr, "cloud_bench: %s\n", error.what());
        exit_code = 1;
    }

    Leftovers left;
    left.add_new(before, host_state(work));
    for (const auto& trace : vm_traces(work, {name_prefix}, {"lcloud", "default"}))
        left.add_if(true, trace);
    std::error_code error;
    for (const auto& entry : fs::directory_iterator(checkpoints, error))
        left.add_if(entry.path().filename().string().rfind(name_prefix, 0) == 0,
                    "boot checkpoint " + entry.path().string());
    for (const auto& entry : fs::directory_iterator(image_caches, error))
        left.add_if(entry.path().filename().string().rfind(name_prefix, 0) == 0,
                    "image cache " + entry.path().string());
    // The port forwarders (`lcloud-agent forward --state DIR/.lcloud`), named apart from the
    // other processes: what holds the ports open.
    for (const int pid : processes_naming(work.path().string()))
        if (read_text("/proc/" + std::to_string(pid) + "/cmdline")
                .find(std::string("forward\0", 8)) != std::string::npos)
            left.add_if(true, "port forwarder (pid " + std::to_string(pid) + ")");
    for (const uint16_t port : ports_used)
        left.add_if(!port_free(port), "a listener on 127.0.0.1:" + std::to_string(port) +
                                          " (the example's port; free before its round)");
    const bool clean = left.report("libvirt domain, volume, DHCP reservation, boot checkpoint, "
                                   "image cache, qemu or other process, port forwarder, "
                                   "listener, link or cgroup");
    if (!clean) exit_code = 1;
    if (exit_code == 1 || options.keep_logs) {
        work.keep();
        std::printf("logs kept in %s\n", logs.dir().c_str());
    }
    return exit_code;
}

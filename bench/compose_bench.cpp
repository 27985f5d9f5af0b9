// The project benchmark of issue 4: a three-container project on a network of its own (names
// resolve), started and then removed, by lcloud (`lcloud up` and `lcloud destroy` of a
// provider-local lcloud.yaml) and by podman doing the same (`network create`, three `run -d`
// with network aliases; `rm -f`, `network rm`), alternating, in the same run. Prints the medians
// and their ratio.
//
//   build/compose_bench [--rounds N]
//
// lcloud's agent lives under the work directory (LCLOUD_AGENT_ROOT, LCLOUD_AGENT_SOCKET), never
// in /var/lib/lcloud. Each `up` starts it, since `destroy` leaves no process behind.
#include "support/agent.hpp"
#include "support/leftovers.hpp"
#include "support/measure.hpp"
#include "support/podman.hpp"

#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <string>
#include <thread>
#include <vector>

using namespace lcloud;
using namespace lcloud::bench;

namespace {

const std::vector<std::string> services = {"web", "app", "db"};
// pid 1 with a handler for SIGTERM, so that a graceful stop ends it at once on either side
// (`lcloud destroy` kills at once anyway; `podman rm -f` sends SIGTERM first); `wait` is
// interrupted by the trapped signal.
const std::string service_command = "trap 'exit 0' TERM; sleep 3600 & wait";

struct Peer {
    std::string name;
    std::vector<double> up, down, both;
};

class LcloudProject {
  public:
    LcloudProject(const WorkDir& work, const std::string& name) : work_(work) {
        dir_ = work.path() / "project";
        fs::create_directories(dir_);
        std::ofstream file(dir_ / "lcloud.yaml");
        file << "name: " << name << "\nprovider: local\ncontainers:\n";
        for (const auto& service : services)
            file << "  " << service << ":\n    image: busybox:bench\n    command: [\"sh\", "
                 << "\"-c\", \"" << service_command << "\"]\n";
    }
    std::vector<std::string> env() const {
        return {"LCLOUD_AGENT_ROOT=" + agent_root().string(),
                "LCLOUD_AGENT_SOCKET=" + socket().string()};
    }
    RunResult lcloud(const std::vector<std::string>& args, std::vector<std::string> extra = {},
                     bool check = true) const {
        std::vector<std::string> argv = {LCLOUD_BINARY, "-C", dir_.string()};
        argv.insert(argv.end(), args.begin(), args.end());
        std::vector<std::string> environment = env();
        environment.insert(environment.end(), extra.begin(), extra.end());
        return check ? run_checked(argv, work_.options(environment))
                     : run(argv, work_.options(environment));
    }
    // The agent leaves once it supervises nothing; the next round starts from there.
    bool wait_agent_gone() const {
        const auto deadline = Clock::now() + std::chrono::seconds(10);
        while (fs::exists(socket()) && Clock::now() < deadline)
            std::this_thread::sleep_for(std::chrono::milliseconds(10));
        return !fs::exists(socket());
    }
    // Whatever a failed round left: the project destroyed, the agent gone, its root clean.
    void clean() const {
        lcloud({"destroy"}, {}, false);
        if (!wait_agent_gone())
            if (auto client = agent::AgentClient::connect_unix(socket().string()))
                client->call("agent.shutdown");
        wait_agent_gone();
        clean_agent_root(agent_root(), work_);
    }
    fs::path agent_root() const { return work_.path() / "agent"; }
    fs::path socket() const { return work_.path() / "agent.sock"; }

  private:
    const WorkDir& work_;
    fs::path dir_;
};

void podman_up(const Podman& podman, const std::string& network, double& ms) {
    ms += podman.checked({"network", "create", network}).wall_ms;
    for (const auto& service : services) {
        std::vector<std::string> args = {
            "run",       "-d",    "--name",          network + "-" + service,
            "--network", network, "--network-alias", service};
        for (const auto& limit : Podman::ulimits())
            args.push_back(limit);
        for (const char* arg : {"busybox:bench", "sh", "-c"})
            args.push_back(arg);
        args.push_back(service_command);
        ms += podman.checked(args).wall_ms;
    }
}

void podman_down(const Podman& podman, const std::string& network, double& ms) {
    std::vector<std::string> args = {"rm", "--force"};
    for (const auto& service : services)
        args.push_back(network + "-" + service);
    ms += podman.checked(args).wall_ms;
    ms += podman.checked({"network", "rm", network}).wall_ms;
}

// Whether pid 1 of the container blocks SIGTERM, from what `cat /proc/1/status` printed: then
// it cannot stop gracefully, and a stop waits out the grace period.
bool blocks_sigterm(const std::string& status) {
    const auto at = status.find("SigBlk:");
    if (at == std::string::npos) throw std::runtime_error("no SigBlk in:\n" + status);
    return (std::stoull(status.substr(at + 7), nullptr, 16) >> (SIGTERM - 1)) & 1;
}

// Both did the same: from app, web's name resolves. And says what would make a removal slow.
void check_same_work(const LcloudProject& project, const Podman& podman,
                     const std::string& network) {
    const auto lcloud = project.lcloud({"exec", "app", "--", "nslookup", "web"}, {}, false);
    const auto peer = podman.run({"exec", network + "-app", "nslookup", "web"});
    std::printf("  check: from app, `nslookup web` answers with lcloud: %s, with podman: %s\n",
                lcloud.exit_code == 0 ? "yes" : "NO", peer.exit_code == 0 ? "yes" : "NO");
    if (lcloud.exit_code != 0 || peer.exit_code != 0)
        throw std::runtime_error("names do not resolve:\n" + lcloud.output + peer.output);
    const bool lcloud_blocks =
        blocks_sigterm(project.lcloud({"exec", "web", "--", "cat", "/proc/1/status"}).output);
    const bool peer_blocks =
        blocks_sigterm(podman.checked({"exec", network + "-web", "cat", "/proc/1/status"}).output);
    std::printf("  check: pid 1 of web (which traps SIGTERM) has SIGTERM blocked with lcloud: "
                "%s, with podman: %s%s\n",
                lcloud_blocks ? "YES" : "no", peer_blocks ? "YES" : "no",
                lcloud_blocks || peer_blocks
                    ? " (so it cannot stop on SIGTERM: a graceful stop waits out the stop grace "
                      "period, 10 s by default, and then kills it)"
                    : "");
}

void print_peer(const Peer& peer) {
    std::printf("  %-7s up %8.1f ms   removed %8.1f ms   both %8.1f ms\n", peer.name.c_str(),
                median(peer.up), median(peer.down), median(peer.both));
}

int run_bench(const WorkDir& work, int rounds) {
    const fs::path tarball = make_busybox_tarball(work);
    const std::string name = "lcb" + std::to_string(::getpid());
    LcloudProject project(work, name);
    ScopeExit clean_lcloud([&] { project.clean(); });
    Podman podman(work, true);
    project.lcloud({"image", "import", "--rootfs", "busybox:bench", tarball.string()},
                   {"LCLOUD_AGENT_NO_FSYNC=1"});
    project.wait_agent_gone();
    podman.checked({"import", tarball.string(), "busybox:bench"});
    const std::string network = name + "-net";
    podman.track_network(network);

    std::printf("a three-container project on a network (busybox; names resolve), up and then "
                "removed, %d rounds after 2 for warm-up, alternating which goes first\n",
                rounds);
    // Untimed, first: both do the same work, three running containers whose names resolve.
    double ignored = 0;
    project.lcloud({"up"});
    podman_up(podman, network, ignored);
    check_same_work(project, podman, network);
    project.lcloud({"destroy"});
    podman_down(podman, network, ignored);

    Peer lcloud{"lcloud", {}, {}, {}}, peer{"podman", {}, {}, {}};
    for (int round = 0; round < rounds + 2; ++round) {
        const bool record = round >= 2;
        for (int turn = 0; turn < 2; ++turn) {
            throw_if_interrupted();
            double up = 0, down = 0;
            if ((turn == 0) == (round % 2 == 0)) {
                if (!project.wait_agent_gone()) throw std::runtime_error("the agent stayed");
                up = project.lcloud({"up"}).wall_ms;
                down = project.lcloud({"destroy"}).wall_ms;
                if (!record) continue;
                lcloud.up.push_back(up), lcloud.down.push_back(down);
                lcloud.both.push_back(up + down);
            } else {
                podman_up(podman, network, up);
                podman_down(podman, network, down);
                if (!record) continue;
                peer.up.push_back(up), peer.down.push_back(down), peer.both.push_back(up + down);
            }
        }
    }
    std::printf("medians (lcloud: `lcloud up`, `lcloud destroy`, the agent started by `up`; "
                "podman: network create + 3 run -d, rm -f + network rm)\n");
    print_peer(lcloud);
    print_peer(peer);
    std::printf("  lcloud / podman: up %.3f, removed %.3f, both %.3f (podman takes %.1fx as "
                "long)\n",
                median(lcloud.up) / median(peer.up), median(lcloud.down) / median(peer.down),
                median(lcloud.both) / median(peer.both), median(peer.both) / median(lcloud.both));
    return 0;
}

} // namespace

int main(int argc, char** argv) {
    int rounds = 20;
    for (int i = 1; i + 1 < argc; i += 2)
        if (std::string(argv[i]) == "--rounds") rounds = std::atoi(argv[i + 1]);
    if (rounds < 1) {
        std::fprintf(stderr, "usage: compose_bench [--rounds N]\n");
        return 2;
    }
    std::setvbuf(stdout, nullptr, _IOLBF, 0);
    unwind_on_interrupt();
    int exit_code = 0;
    WorkDir work("lcloud-compose-bench");
    const auto before = host_state(work);
    try {
        exit_code = run_bench(work, rounds);
    } catch (const std::exception& error) {
        std::fprintf(stderr, "compose_bench: %s\n", error.what());
        exit_code = 1;
    }
    Leftovers left;
    left.add_new(before, host_state(work));
    left.add("mount", mounts_below(work.path()));
    if (!left.report()) exit_code = 1;
    return exit_code;
}

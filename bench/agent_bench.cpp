// The 500-container benchmark of issue 4: busybox `sleep` containers started through one
// lcloud-agent, one request after another as the engine sends them; then what each costs in
// memory outside its own processes and in disk, and how long removing them all takes.
//
//   build/agent_bench [--containers N] [--per-network N] [--settle-ms MS]
//
// A network is a /24 (253 containers at most, see src/runtime/network/plan.cpp), so by default
// the containers have no network: each gets a network namespace with only loopback (a spec's
// network ""). --per-network N puts them on networks of N containers instead, one environment
// (and so one bridge) each.
#include "agent/protocol/spec.hpp"
#include "support/agent.hpp"
#include "support/leftovers.hpp"
#include "support/measure.hpp"

#include "runtime/network/plan.hpp"

#include <cstdio>
#include <cstdlib>
#include <map>
#include <string>
#include <thread>
#include <vector>

using namespace lcloud;
using namespace lcloud::bench;

namespace {

struct Options {
    int containers = 500;
    int per_network = 0; // 0: no network
    int settle_ms = 2000;
};

struct MemorySample {
    int64_t available = 0, spread = 0, slab = 0, unreclaimable = 0, agent_rss = 0;
    int64_t kernel = 0; // SUnreclaim + KernelStack + PageTables + Percpu: no reclaim frees it
};

// MemAvailable moves with whatever else the machine does: the median of five reads, and their
// spread, to show how much it moved meanwhile.
MemorySample sample_memory(pid_t agent) {
    std::vector<double> available;
    for (int i = 0; i < 5; ++i) {
        if (i) std::this_thread::sleep_for(std::chrono::milliseconds(200));
        available.push_back(static_cast<double>(meminfo_bytes("MemAvailable")));
    }
    const auto [low, high] = std::minmax_element(available.begin(), available.end());
    const int64_t unreclaimable = meminfo_bytes("SUnreclaim");
    return {static_cast<int64_t>(median(available)),
            static_cast<int64_t>(*high - *low),
            meminfo_bytes("Slab"),
            unreclaimable,
            rss_bytes(agent),
            unreclaimable + meminfo_bytes("KernelStack") + meminfo_bytes("PageTables") +
                meminfo_bytes("Percpu")};
}

// What the container's own processes hold: its memory cgroup's usage (v1 here; v2 elsewhere),
// which counts their pages and the kernel memory charged to them.
int64_t container_cgroup_memory(const std::string& id) {
    for (const char* file : {"/sys/fs/cgroup/memory/lcloud-agent/{}/memory.usage_in_bytes",
                             "/sys/fs/cgroup/unified/lcloud-agent/{}/memory.current",
                             "/sys/fs/cgroup/lcloud-agent/{}/memory.current"}) {
        std::string path = file;
        path.replace(path.find("{}"), 2, id);
        if (fs::exists(path)) return read_number(path);
    }
    return -1;
}

const char* verdict(bool met) {
    return met ? "met" : "NOT met";
}

struct Container {
    std::string id, environment;
    pid_t pid = 0;
};

std::vector<Container> plan_containers(const Options& options) {
    const std::string prefix = "lcb" + std::to_string(::getpid());
    std::vector<Container> out;
    for (int i = 0; i < options.containers; ++i) {
        const std::string env =
            options.per_network ? prefix + "n" + std::to_string(i / options.per_network) : prefix;
        out.push_back({env + "-" + std::to_string(i), env, 0});
    }
    return out;
}

agent::ContainerSpec spec_of(const Container& container, int index, bool network) {
    agent::ContainerSpec spec;
    spec.id = container.id;
    spec.environment = container.environment;
    spec.service = "s" + std::to_string(index);
    spec.image = "busybox:bench";
    spec.network = network ? container.environment : "";
    spec.command = std::vector<std::string>{"sleep", "3600"};
    spec.stop_grace_ms = 100; // sleep as pid 1 ignores SIGTERM: removal waits this, then kills
    return spec;
}

// One container's files, largest first, so that the disk figure can be read.
void print_files(const fs::path& dir) {
    std::multimap<uint64_t, std::string, std::greater<>> files;
    std::error_code error;
    for (auto it = fs::recursive_directory_iterator(dir, error);
         !error && it != fs::recursive_directory_iterator(); it.increment(error)) {
        if (it->path().filename() == "rootfs") { // the overlay mount: the image's layers
            it.disable_recursion_pending();
            continue;
        }
        files.emplace(allocated_bytes(it->path()),
                      fs::relative(it->path(), dir).string() + (it->is_directory() ? "/" : ""));
    }
    std::printf("    one container's directory (allocated, subdirectories included):");
    for (const auto& [bytes, name] : files)
        std::printf(" %s %.0f KiB;", name.c_str(), static_cast<double>(bytes) / kib);
    std::printf("\n");
}

int run_bench(const Options& options, const WorkDir& work, std::vector<Container>& containers) {
    const fs::path tarball = make_busybox_tarball(work);
    const int count = options.containers;
    AgentProcess agent(work, work.path() / "agent");
    std::vector<std::string> environments;
    for (const auto& container : containers)
        if (environments.empty() || environments.back() != container.environment)
            environments.push_back(container.environment);
    bool destroyed = false;
    ScopeExit destroy_all([&] {
        if (destroyed || !agent.client) return;
        for (const auto& env : environments)
            agent.client->call("environment.destroy", {{"environment", env}});
    });
    agent.client->call("image.import", {{"path", tarball.string()}, {"rootfs", "busybox:bench"}});

    std::this_thread::sleep_for(std::chrono::milliseconds(options.settle_ms));
    const MemorySample before = sample_memory(agent.pid());
    const uint64_t disk_before = allocated_bytes(agent.root());

    std::printf("%d containers of busybox `sleep 3600` through one lcloud-agent, %s; one client, "
                "one container.create (create and start) after another\n",
                count,
                options.per_network ? ("on networks of " + std::to_string(options.per_network) +
                                       " containers, one environment each")
                                          .c_str()
                                    : "no network (a network namespace with only loopback each)");
    std::vector<double> latencies;
    const auto start = Clock::now();
    for (int i = 0; i < count; ++i) {
        throw_if_interrupted();
        const auto request = Clock::now();
        const auto status =
            agent.client
                ->call("container.create",
                       {{"spec", spec_of(containers[i], i, options.per_network > 0)}})
                .get<agent::ContainerStatus>();
        latencies.push_back(ms_since(request));
        containers[i].pid = status.pid;
    }
    const double total_ms = ms_since(start);
    int running = 0;
    for (const auto& env : environments)
        for (const auto& status : agent.client->call("container.list", {{"environment", env}}))
            running += status.at("state") == "running";
    std::printf("  start all: %.2f s (%.1f ms a container; a request's median %.1f ms, p95 %.1f "
                "ms, max %.1f ms)   target <= 10 s: %s\n",
                total_ms / 1e3, total_ms / count, median(latencies), percentile(latencies, 0.95),
                percentile(latencies, 1.0), verdict(total_ms <= 10e3 && running == count));
    // Whether a request costs more as the agent holds more containers.
    const size_t tenth = std::max<size_t>(latencies.size() / 10, 1);
    std::printf("  a request's median over the first tenth of the containers %.1f ms, over the "
                "last tenth %.1f ms\n",
                median({latencies.begin(), latencies.begin() + tenth}),
                median({latencies.end() - tenth, latencies.end()}));
    std::printf("  running right after the last start: %d of %d\n", running, count);

    std::this_thread::sleep_for(std::chrono::milliseconds(options.settle_ms));
    const MemorySample after = sample_memory(agent.pid());
    int64_t own = 0;
    int missing = 0;
    for (const auto& container : containers) {
        const int64_t bytes = container_cgroup_memory(container.id);
        if (bytes < 0) ++missing;
        own += std::max<int64_t>(bytes, 0);
    }
    const double dropped = static_cast<double>(before.available - after.available);
    const double outside = (dropped - static_cast<double>(own)) / count;
    const auto per_container = [count](int64_t bytes) {
        return static_cast<double>(bytes) / count / kib;
    };
    // MemAvailable moves with other work's page cache; the kernel's own counters do not. They
    // include the containers' own kernel memory, so they come out a little higher.
    const double kernel_and_agent = per_container(after.kernel - before.kernel) +
                                    per_container(after.agent_rss - before.agent_rss);
    // Reads that moved by more than 8 MiB (16 KiB a container), or a drop below the
    // containers' own: other work on the machine took or freed memory meanwhile.
    const bool reliable =
        outside >= 0 && missing == 0 && std::max(before.spread, after.spread) <= 8 * 1024 * 1024;
    const bool memory_met = reliable ? outside <= mib : kernel_and_agent <= 1024;
    std::printf(
        "memory outside the containers' own processes (read %d ms after the last start):\n"
        "  MemAvailable (/proc/meminfo, median of 5 reads; they spread over %.1f MiB "
        "before, %.1f MiB after) dropped by %.1f MiB\n"
        "  the containers' memory cgroups hold %.1f MiB (their usage: their processes' "
        "pages and the kernel memory charged to them)%s\n"
        "  => (%.1f - %.1f) MiB / %d = %.1f KiB a container   target <= 1 MiB: %s\n",
        options.settle_ms, static_cast<double>(before.spread) / mib,
        static_cast<double>(after.spread) / mib, dropped / mib, static_cast<double>(own) / mib,
        missing ? (" (" + std::to_string(missing) + " cgroups not found)").c_str() : "",
        dropped / mib, static_cast<double>(own) / mib, count, outside / kib,
        reliable ? verdict(memory_met)
                 : (std::string("unreliable (other work moved MemAvailable; run it idle); by the "
                                "cross-check below: ") +
                    verdict(memory_met))
                       .c_str());
    std::printf("  of which lcloud-agent's RSS grew %.1f KiB a container; beside it, the kernel's "
                "Slab grew %.1f KiB a container (unreclaimable %.1f KiB; the rest are caches, "
                "which MemAvailable counts as available)\n",
                per_container(after.agent_rss - before.agent_rss),
                per_container(after.slab - before.slab),
                per_container(after.unreclaimable - before.unreclaimable));
    std::printf("  cross-check from counters that other work's page cache does not move: growth "
                "of (SUnreclaim + KernelStack + PageTables + Percpu) and of the agent's RSS, the "
                "containers' own kernel memory included, / %d = %.1f KiB a container\n",
                count, kernel_and_agent);

    const double disk = static_cast<double>(allocated_bytes(agent.root()) - disk_before) / count;
    std::vector<double> in_containers, in_runtime;
    for (const auto& container : containers) {
        in_containers.push_back(
            static_cast<double>(allocated_bytes(agent.root() / "containers" / container.id)));
        in_runtime.push_back(
            static_cast<double>(allocated_bytes(agent.root() / "runtime" / container.id)));
    }
    std::printf("disk a container: what the agent's root grew by (st_blocks of each inode once, "
                "overlay mounts not entered) / %d = %.1f KiB   target <= 64 KiB: %s\n"
                "  a container's median: containers/ID (upper, work, bundle, record, logs) %.1f "
                "KiB, runtime/ID (state) %.1f KiB\n",
                count, disk / kib, verdict(disk <= 64 * kib), median(in_containers) / kib,
                median(in_runtime) / kib);
    print_files(agent.root() / "containers" / containers.front().id);

    if (options.per_network) {
        // The agent ensures the network on every container start: what that costs alone.
        std::vector<double> ensure;
        for (int i = 0; i < 20; ++i) {
            const auto request = Clock::now();
            agent.client->call("network.ensure", {{"name", environments.front()}});
            ensure.push_back(ms_since(request));
        }
        std::printf("network.ensure of a network that exists (the agent does it once, not at each start): "
                    "median %.1f ms\n",
                    median(ensure));
    }

    const auto removing = Clock::now();
    for (const auto& env : environments)
        agent.client->call("environment.destroy", {{"environment", env}});
    destroyed = true;
    std::printf("remove all (environment.destroy, which kills at once): %.2f s\n",
                ms_since(removing) / 1e3);
    return total_ms <= 10e3 && running == count && memory_met && disk <= 64 * kib ? 0 : 2;
}

// After the agent has gone: nothing of the run may be left on the host.
bool check_leftovers(const WorkDir& work, const std::vector<Container>& containers,
                     const Options& options) {
    Leftovers left;
    std::vector<std::string> links;
    for (const auto& container : containers) {
        left.process_gone(container.pid, "container process of " + container.id);
        if (options.per_network) {
            links.push_back(runtime::network::host_veth_name(container.environment, container.id));
            links.push_back(runtime::network::bridge_name(container.environment));
        }
    }
    left.add("link", links_named(work, links));
    left.add("mount", mounts_below(work.path()));
    left.add("cgroup", cgroups_named("lcloud-agent", "lcb" + std::to_string(::getpid()) + "n"));
    left.add("cgroup", cgroups_named("lcloud-agent", "lcb" + std::to_string(::getpid()) + "-"));
    const std::string ruleset = run({"nft", "list", "ruleset"}, work.options()).output;
    for (const auto& link : links)
        left.add_if(ruleset.find(link) != std::string::npos, "nftables rule naming " + link);
    return left.report();
}

} // namespace

int main(int argc, char** argv) {
    Options options;
    for (int i = 1; i + 1 < argc; i += 2) {
        const std::string flag = argv[i];
        if (flag == "--containers")
            options.containers = std::atoi(argv[i + 1]);
        else if (flag == "--per-network")
            options.per_network = std::atoi(argv[i + 1]);
        else if (flag == "--settle-ms")
            options.settle_ms = std::atoi(argv[i + 1]);
    }
    if (options.containers < 1 || options.per_network < 0 || options.per_network > 253) {
        std::fprintf(stderr, "usage: agent_bench [--containers N] [--per-network 1..253] "
                             "[--settle-ms MS]\n");
        return 2;
    }
    std::setvbuf(stdout, nullptr, _IOLBF, 0);
    unwind_on_interrupt();
    int exit_code = 0;
    std::vector<Container> containers = plan_containers(options);
    {
        WorkDir work("lcloud-agent-bench");
        try {
            exit_code = run_bench(options, work, containers);
        } catch (const std::exception& error) {
            std::fprintf(stderr, "agent_bench: %s\n", error.what());
            exit_code = 1;
        }
        if (!check_leftovers(work, containers, options)) exit_code = 1;
    }
    return exit_code;
}

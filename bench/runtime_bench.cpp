// The runtime benchmark of issue 3: the same busybox bundle through the full cycle (`run` of
// /bin/true: create, start, wait, delete) with lcloud-runtime, crun and runc, alternating, and
// `exec` latency against crun exec. Prints medians of wall and CPU time, and the ratios.
//
//   build/bench/runtime_bench [--rounds N] [--runtime PATH]
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fcntl.h>
#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <spawn.h>
#include <stdexcept>
#include <string>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>
#include <vector>

namespace fs = std::filesystem;
extern char** environ;

namespace {

struct Sample {
    double wall_ms;
    double cpu_ms;
};

// Runs argv with stdio on /dev/null; returns wall and CPU (user + system of the whole tree).
Sample timed_run(const std::vector<std::string>& argv) {
    std::vector<char*> args;
    for (const auto& arg : argv)
        args.push_back(const_cast<char*>(arg.c_str()));
    args.push_back(nullptr);
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
    posix_spawn_file_actions_addopen(&actions, 1, "/dev/null", O_WRONLY, 0);
    posix_spawn_file_actions_addopen(&actions, 2, "/dev/null", O_WRONLY, 0);
    const auto start = std::chrono::steady_clock::now();
    pid_t pid;
    if (posix_spawn(&pid, args[0], &actions, nullptr, args.data(), environ) != 0)
        throw std::runtime_error("cannot start " + argv[0]);
    posix_spawn_file_actions_destroy(&actions);
    int status = 0;
    rusage usage{};
    if (wait4(pid, &status, 0, &usage) != pid) throw std::runtime_error("wait4 failed");
    const auto end = std::chrono::steady_clock::now();
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
        throw std::runtime_error("failed: " + argv[0] + " " + argv[1] + " " + argv[2] + " ...");
    const auto ms = [](const timeval& tv) { return tv.tv_sec * 1e3 + tv.tv_usec / 1e3; };
    return {std::chrono::duration<double, std::milli>(end - start).count(),
            ms(usage.ru_utime) + ms(usage.ru_stime)};
}

double median(std::vector<double> values) {
    std::sort(values.begin(), values.end());
    const size_t n = values.size();
    return n % 2 ? values[n / 2] : (values[n / 2 - 1] + values[n / 2]) / 2;
}

// A busybox-static rootfs and the default config of `lcloud-runtime spec`, running /bin/true.
fs::path make_bundle(const fs::path& dir, const std::string& runtime) {
    fs::create_directories(dir / "rootfs/bin");
    for (const char* sub : {"proc", "sys", "dev", "tmp", "etc"})
        fs::create_directories(dir / "rootfs" / sub);
    fs::copy_file("/bin/busybox", dir / "rootfs/bin/busybox");
    for (const char* applet : {"true", "sh", "sleep"})
        fs::create_symlink("busybox", dir / "rootfs/bin" / applet);
    if (std::system(("cd '" + dir.string() + "' && '" + runtime + "' spec").c_str()) != 0)
        throw std::runtime_error("lcloud-runtime spec failed");
    nlohmann::ordered_json config =
        nlohmann::ordered_json::parse(std::ifstream(dir / "config.json"));
    config["process"]["terminal"] = false;
    config["process"]["args"] = {"true"};
    std::ofstream(dir / "config.json") << config.dump(2);
    return dir;
}

struct Peer {
    std::string name;
    std::string binary;
    fs::path root;
    std::vector<double> wall, cpu;
};

void print_row(const Peer& peer, const Peer& base) {
    const double wall = median(peer.wall), cpu = median(peer.cpu);
    std::printf(
        "  %-15s median %6.2f ms wall %6.2f ms CPU   wall ratio to %s %.2f   CPU ratio %.2f\n",
        peer.name.c_str(), wall, cpu, base.name.c_str(), wall / median(base.wall),
        cpu / median(base.cpu));
}

} // namespace

int main(int argc, char** argv) {
    int rounds = 200;
    std::string runtime = LCLOUD_RUNTIME_BINARY;
    for (int i = 1; i + 1 < argc; i += 2) {
        const std::string flag = argv[i];
        if (flag == "--rounds")
            rounds = std::atoi(argv[i + 1]);
        else if (flag == "--runtime")
            runtime = argv[i + 1];
    }
    char work_template[] = "/tmp/lcloud-bench-XXXXXX";
    if (!mkdtemp(work_template)) return 1;
    const fs::path work = work_template;
    int exit_code = 0;
    try {
        const fs::path bundle = make_bundle(work / "bundle", runtime);
        std::vector<Peer> peers = {{"lcloud-runtime", runtime, work / "root-lcloud", {}, {}}};
        for (const char* peer : {"crun", "runc"})
            if (std::system((std::string("command -v ") + peer + " >/dev/null").c_str()) == 0)
                peers.push_back({peer,
                                 std::string("/usr/bin/") + peer,
                                 work / ("root-" + std::string(peer)),
                                 {},
                                 {}});

        std::printf("run of /bin/true (create + start + wait + delete), %d rounds, alternating\n",
                    rounds);
        for (int round = 0; round < rounds + 5; ++round)
            for (auto& peer : peers) {
                const Sample s =
                    timed_run({peer.binary, "--root", peer.root.string(), "run", "--bundle",
                               bundle.string(), "bench-" + std::to_string(round)});
                if (round < 5) continue; // warm-up
                peer.wall.push_back(s.wall_ms);
                peer.cpu.push_back(s.cpu_ms);
            }
        for (const auto& peer : peers)
            print_row(peer, peers.size() > 1 ? peers[1] : peers[0]);

        // exec: one long-running container per runtime, then `exec true` into it.
        nlohmann::ordered_json config =
            nlohmann::ordered_json::parse(std::ifstream(bundle / "config.json"));
        config["process"]["args"] = {"sleep", "1000"};
        std::ofstream(bundle / "config.json") << config.dump(2);
        std::vector<Peer> exec_peers;
        for (const auto& peer : peers)
            if (peer.name != "runc")
                exec_peers.push_back({peer.name, peer.binary, peer.root, {}, {}});
        for (auto& peer : exec_peers)
            timed_run({peer.binary, "--root", peer.root.string(), "run", "--detach", "--bundle",
                       bundle.string(), "bench-exec"});
        std::printf("exec of /bin/true into a running container, %d rounds, alternating\n", rounds);
        for (int round = 0; round < rounds + 5; ++round)
            for (auto& peer : exec_peers) {
                const Sample s = timed_run(
                    {peer.binary, "--root", peer.root.string(), "exec", "bench-exec", "true"});
                if (round < 5) continue;
                peer.wall.push_back(s.wall_ms);
                peer.cpu.push_back(s.cpu_ms);
            }
        for (const auto& peer : exec_peers)
            print_row(peer, exec_peers.size() > 1 ? exec_peers[1] : exec_peers[0]);
        for (auto& peer : exec_peers)
            timed_run(
                {peer.binary, "--root", peer.root.string(), "delete", "--force", "bench-exec"});
    } catch (const std::exception& error) {
        std::fprintf(stderr, "runtime_bench: %s\n", error.what());
        exit_code = 1;
    }
    fs::remove_all(work);
    return exit_code;
}

// config.json's linux.devices, linux.sysctl, process settings, namespaces by path and
// resources, seen from inside the containers of lcloud-runtime and crun or in their cgroups.
#include "runtime/container/config_support.hpp"

#include <algorithm>
#include <doctest/doctest.h>
#include <iterator>
#include <sstream>
#include <unistd.h>

using namespace lcloud::test;
using namespace lcloud::test::features;
namespace fs = std::filesystem;

namespace {

// The v1 blkio weight file a new cgroup offers here: blkio.weight with CFQ, blkio.bfq.weight
// with BFQ, none without either. Probed in a cgroup of our own, since the root has neither.
std::string blkio_weight_file() {
    const fs::path probe = "/sys/fs/cgroup/blkio/lcloud-test-probe-" + std::to_string(::getpid());
    std::error_code error;
    if (!fs::create_directory(probe, error)) return "";
    std::string file;
    for (const char* name : {"blkio.weight", "blkio.bfq.weight"})
        if (file.empty() && fs::exists(probe / name)) file = name;
    fs::remove(probe, error);
    return file;
}

} // namespace

TEST_CASE("config devices: nodes as declared; the devices cgroup opens only allowed ones") {
    for (const auto& [name, binary] : runtimes_to_compare()) {
        CAPTURE(name);
        RuntimeUnderTest runtime(name, binary);
        BusyboxBundle bundle;
        add_applets(bundle, {"mknod"});
        bundle.config["linux"]["devices"] = {{{"path", "/dev/full-copy"},
                                              {"type", "c"},
                                              {"major", 1},
                                              {"minor", 7},
                                              {"fileMode", 0640},
                                              {"uid", 1234},
                                              {"gid", 5678}},
                                             {{"path", "/dev/net/tun"},
                                              {"type", "c"},
                                              {"major", 10},
                                              {"minor", 200},
                                              {"fileMode", 0666}}};
        auto allowed = bundle.config["linux"]["resources"]["devices"];
        allowed.push_back(
            {{"allow", true}, {"type", "c"}, {"major", 10}, {"minor", 200}, {"access", "rw"}});
        bundle.config["linux"]["resources"]["devices"] = allowed;
        // kmsg opens for writing without any capability: only the cgroup can refuse it.
        bundle.set_args({"sh", "-c",
                         "exec 2>&1; stat -c '%F %t:%T %a %u:%g' /dev/full-copy; "
                         "head -c 3 /dev/full-copy | wc -c; "
                         "true < /dev/net/tun && echo tun=open; "
                         "mknod /dev/kmsg-undeclared c 1 11 && echo mknod=ok; "
                         "true > /dev/kmsg-undeclared; echo kmsg=$?"});
        auto result = runtime.run_bundle(bundle, cid("devices"), true);
        CHECK_MESSAGE(result.exit_code == 0, result.output);
        CHECK(result.output == "character special file 1:7 640 1234:5678\n3\ntun=open\n"
                               "mknod=ok\nsh: can't create /dev/kmsg-undeclared: Operation not "
                               "permitted\nkmsg=1\n");

        // Declared but not allowed: the node exists, and the cgroup refuses it.
        allowed.erase(allowed.size() - 1);
        bundle.config["linux"]["resources"]["devices"] = allowed;
        bundle.set_args({"sh", "-c", "exec 2>&1; stat -c %t:%T /dev/net/tun; true < /dev/net/tun"});
        result = runtime.run_bundle(bundle, cid("no-tun"), true);
        CHECK(result.exit_code != 0);
        CHECK(result.output == "a:c8\nsh: can't open /dev/net/tun: Operation not permitted\n");
    }
}

TEST_CASE("config sysctl: set in the container's namespaces, the host's unchanged") {
    const char* script = "cat /proc/sys/net/ipv4/ip_forward /proc/sys/kernel/shm_rmid_forced";
    const std::string host_before =
        file_text("/proc/sys/net/ipv4/ip_forward") + file_text("/proc/sys/kernel/shm_rmid_forced");
    for (const auto& [name, binary] : runtimes_to_compare()) {
        CAPTURE(name);
        RuntimeUnderTest runtime(name, binary);
        BusyboxBundle bundle;
        bundle.set_args({"sh", "-c", script});
        const auto fresh = runtime.run_bundle(bundle, cid("fresh"), true);
        REQUIRE_MESSAGE(fresh.exit_code == 0, fresh.output);
        REQUIRE(fresh.output.size() == 4);
        // The opposite of what a new namespace starts with, so that an ignored sysctl shows.
        const std::string forward = fresh.output[0] == '0' ? "1" : "0";
        const std::string rmid = fresh.output[2] == '0' ? "1" : "0";
        bundle.config["linux"]["sysctl"] = {{"net.ipv4.ip_forward", forward},
                                            {"kernel.shm_rmid_forced", rmid}};
        const auto result = runtime.run_bundle(bundle, cid("sysctl"), true);
        CHECK_MESSAGE(result.exit_code == 0, result.output);
        CHECK(result.output == forward + "\n" + rmid + "\n");
        CHECK(file_text("/proc/sys/net/ipv4/ip_forward") +
                  file_text("/proc/sys/kernel/shm_rmid_forced") ==
              host_before);
    }
}

// lcloud-runtime writes such settings into the namespaces it happens to be in, the host's (see
// the report); crun refuses them. The values are the host's own, so that a runtime that applies
// them changes nothing.
TEST_CASE("config sysctl and hostname: refused where they would change the host") {
    const std::string printk = trimmed(file_text("/proc/sys/kernel/printk_ratelimit"));
    const std::string forward = trimmed(file_text("/proc/sys/net/ipv4/ip_forward"));
    const std::string host_name = trimmed(file_text("/proc/sys/kernel/hostname"));
    const auto without = [](nlohmann::ordered_json namespaces, const std::string& type) {
        auto kept = nlohmann::ordered_json::array();
        for (const auto& ns : namespaces)
            if (ns["type"] != type) kept.push_back(ns);
        return kept;
    };
    for (const auto& [name, binary] : runtimes_to_compare()) {
        CAPTURE(name);
        RuntimeUnderTest runtime(name, binary);
        BusyboxBundle bundle;
        bundle.set_args({"true"});
        const auto namespaces = bundle.config["linux"]["namespaces"];
        bundle.config["linux"]["sysctl"] = {{"kernel.printk_ratelimit", printk}};
        auto result = runtime.run_bundle(bundle, cid("global-sysctl"));
        CHECK(result.exit_code != 0);
        CHECK(result.output.find("kernel.printk_ratelimit") != std::string::npos);

        bundle.config["linux"]["sysctl"] = {{"net.ipv4.ip_forward", forward}};
        bundle.config["linux"]["namespaces"] = without(namespaces, "network");
        result = runtime.run_bundle(bundle, cid("host-net-sysctl"));
        CHECK(result.exit_code != 0);
        CHECK(result.output.find("net.ipv4.ip_forward") != std::string::npos);

        bundle.config["linux"].erase("sysctl");
        bundle.config["hostname"] = host_name;
        bundle.config["linux"]["namespaces"] = without(namespaces, "uts");
        result = runtime.run_bundle(bundle, cid("host-uts"));
        CHECK(result.exit_code != 0);
        CHECK(result.output.find("hostname") != std::string::npos);
        CHECK(runtime.run("list -q", true).output.empty());
    }
}

TEST_CASE("config process: rlimits, oomScoreAdj, capability sets, groups, noNewPrivileges") {
    for (const auto& [name, binary] : runtimes_to_compare()) {
        CAPTURE(name);
        RuntimeUnderTest runtime(name, binary);
        BusyboxBundle bundle;
        auto& process = bundle.config["process"];
        process["user"] = {{"uid", 1000}, {"gid", 1000}, {"additionalGids", {10, 20}}};
        process["rlimits"] = {{{"type", "RLIMIT_NOFILE"}, {"soft", 321}, {"hard", 654}}};
        process["oomScoreAdj"] = 123;
        process["noNewPrivileges"] = false;
        // CAP_CHOWN is 0, CAP_KILL 5, CAP_NET_BIND_SERVICE 10. A non-root process keeps across
        // its execve only what is ambient.
        process["capabilities"] = {{"bounding", {"CAP_CHOWN", "CAP_KILL", "CAP_NET_BIND_SERVICE"}},
                                   {"effective", {"CAP_KILL", "CAP_NET_BIND_SERVICE"}},
                                   {"permitted", {"CAP_KILL", "CAP_NET_BIND_SERVICE"}},
                                   {"inheritable", {"CAP_NET_BIND_SERVICE"}},
                                   {"ambient", {"CAP_NET_BIND_SERVICE"}}};
        bundle.set_args({"sh", "-c",
                         "ulimit -n; ulimit -Hn; grep 'Max open files' /proc/self/limits; "
                         "cat /proc/self/oom_score_adj /proc/self/status"});
        const auto result = runtime.run_bundle(bundle, cid("process"), true);
        REQUIRE_MESSAGE(result.exit_code == 0, result.output);
        const std::string& out = result.output;
        std::istringstream lines(out);
        std::string soft, hard, limits, oom;
        std::getline(lines, soft);
        std::getline(lines, hard);
        std::getline(lines, limits);
        std::getline(lines, oom);
        CHECK(soft == "321");
        CHECK(hard == "654");
        std::istringstream words(limits);
        std::vector<std::string> limit_words{std::istream_iterator<std::string>(words), {}};
        CHECK(limit_words ==
              std::vector<std::string>{"Max", "open", "files", "321", "654", "files"});
        CHECK(oom == "123");
        CHECK(status_field(out, "CapBnd") == "0000000000000421");
        CHECK(status_field(out, "CapPrm") == "0000000000000400");
        CHECK(status_field(out, "CapEff") == "0000000000000400");
        CHECK(status_field(out, "CapInh") == "0000000000000400");
        CHECK(status_field(out, "CapAmb") == "0000000000000400");
        CHECK(status_field(out, "Uid") == "1000\t1000\t1000\t1000");
        CHECK(status_field(out, "Gid") == "1000\t1000\t1000\t1000");
        CHECK(trimmed(status_field(out, "Groups")) == "10 20");
        CHECK(status_field(out, "NoNewPrivs") == "0");
    }
}

TEST_CASE("config process: root.readonly, user.umask, hostname and domainname") {
    for (const auto& [name, binary] : runtimes_to_compare()) {
        CAPTURE(name);
        RuntimeUnderTest runtime(name, binary);
        BusyboxBundle bundle;
        bundle.config["root"]["readonly"] = true;
        bundle.config["process"]["user"]["umask"] = 027;
        bundle.config["hostname"] = "named";
        bundle.config["domainname"] = "example.test";
        bundle.set_args({"sh", "-c",
                         "exec 2>&1; touch /new; echo touch=$?; touch /dev/shm/ok && echo shm=ok; "
                         "umask; mkdir /dev/shm/d; stat -c %a /dev/shm/d; hostname; "
                         "cat /proc/sys/kernel/domainname"});
        const auto result = runtime.run_bundle(bundle, cid("readonly"), true);
        CHECK_MESSAGE(result.exit_code == 0, result.output);
        CHECK(result.output == "touch: /new: Read-only file system\ntouch=1\nshm=ok\n0027\n750\n"
                               "named\nexample.test\n");
        CHECK_FALSE(fs::exists(bundle.rootfs() / "new"));
    }
}

// Removes the cgroup directories a test's cgroupsPath made, deepest first, in every hierarchy.
class CgroupTreeGuard {
  public:
    explicit CgroupTreeGuard(std::string top) : top_(std::move(top)) {}
    CgroupTreeGuard(const CgroupTreeGuard&) = delete;
    CgroupTreeGuard& operator=(const CgroupTreeGuard&) = delete;
    ~CgroupTreeGuard() {
        std::error_code error;
        for (const auto& hierarchy : fs::directory_iterator("/sys/fs/cgroup", error)) {
            const fs::path top = hierarchy.path() / top_;
            if (!fs::is_directory(top, error)) continue;
            std::vector<fs::path> dirs;
            for (auto it = fs::recursive_directory_iterator(top, error);
                 !error && it != fs::recursive_directory_iterator(); it.increment(error))
                if (it->is_directory(error)) dirs.push_back(it->path());
            std::sort(dirs.rbegin(), dirs.rend());
            for (const auto& dir : dirs)
                ::rmdir(dir.c_str());
            ::rmdir(top.c_str());
        }
    }

  private:
    std::string top_;
};

TEST_CASE("config cgroupsPath: the container's cgroup is where the config puts it") {
    for (const auto& [name, binary] : runtimes_to_compare()) {
        CAPTURE(name);
        RuntimeUnderTest runtime(name, binary);
        const std::string top = cid("lcloud-test-cgroups-path");
        CgroupTreeGuard guard(top);
        BusyboxBundle bundle;
        bundle.config["linux"]["cgroupsPath"] = "/" + top + "/box";
        bundle.config["linux"]["resources"]["pids"] = {{"limit", 55}};
        bundle.set_args({"sleep", "100"});
        const auto run = run_detached(runtime, bundle, cid("placed"));
        REQUIRE_MESSAGE(run.exit_code == 0, run.output);
        const int pid = container_pid(runtime, cid("placed"));
        std::vector<fs::path> dirs;
        for (const char* controller : {"memory", "pids", "cpu", "devices", ""})
            dirs.push_back(host_cgroup_dir(pid, controller));
        for (const auto& dir : dirs) {
            CAPTURE(dir);
            CHECK(dir.filename() == "box");
            CHECK(dir.parent_path().filename() == top);
        }
        CHECK(trimmed(file_text(dirs[1] / "pids.max")) == "55");
        CHECK(runtime.run("delete --force " + cid("placed")).exit_code == 0);
        for (const auto& dir : dirs) {
            CAPTURE(dir);
            CHECK_FALSE(fs::exists(dir));
        }
    }
}

TEST_CASE("config namespaces: a container joins another's network and uts by path") {
    for (const auto& [name, binary] : runtimes_to_compare()) {
        CAPTURE(name);
        RuntimeUnderTest runtime(name, binary);
        BusyboxBundle first;
        first.config["hostname"] = "alpha-" + name;
        first.set_args({"sleep", "100"});
        const auto run = run_detached(runtime, first, cid("ns-a"));
        REQUIRE_MESSAGE(run.exit_code == 0, run.output);
        const std::string proc = "/proc/" + std::to_string(container_pid(runtime, cid("ns-a")));

        BusyboxBundle second;
        // A hostname would be set in the joined namespace, renaming the first container.
        second.config.erase("hostname");
        for (auto& ns : second.config["linux"]["namespaces"]) {
            if (ns["type"] == "network") ns["path"] = proc + "/ns/net";
            if (ns["type"] == "uts") ns["path"] = proc + "/ns/uts";
        }
        second.set_args({"sh", "-c",
                         "hostname; readlink /proc/self/ns/net; readlink /proc/self/ns/uts; "
                         "readlink /proc/self/ns/pid"});
        const auto result = runtime.run_bundle(second, cid("ns-b"), true);
        CHECK_MESSAGE(result.exit_code == 0, result.output);
        const auto host = run_command("readlink " + proc + "/ns/net; readlink " + proc + "/ns/uts");
        const auto pid_ns = run_command("readlink " + proc + "/ns/pid");
        CHECK(result.output.starts_with("alpha-" + name + "\n" + host.output));
        CHECK(result.output.find(pid_ns.output) == std::string::npos); // its own pid namespace
        CHECK(runtime.run("delete --force " + cid("ns-a")).exit_code == 0);
    }
}

TEST_CASE("config resources: cpu, cpuset, memory reservation and blockIO weight in cgroups") {
    for (const auto& [name, binary] : runtimes_to_compare()) {
        CAPTURE(name);
        RuntimeUnderTest runtime(name, binary);
        BusyboxBundle bundle;
        auto& resources = bundle.config["linux"]["resources"];
        resources["cpu"] = {
            {"shares", 512}, {"quota", 30000}, {"period", 60000}, {"cpus", "0"}, {"mems", "0"}};
        resources["memory"] = {{"reservation", 32 << 20}};
        // crun 1.8 knows only blkio.weight.
        const std::string weight_file = blkio_weight_file();
        const bool weight =
            weight_file == "blkio.weight" || (name == "lcloud-runtime" && !weight_file.empty());
        if (weight) resources["blockIO"] = {{"weight", 300}};
        bundle.set_args({"sleep", "100"});
        const auto run = run_detached(runtime, bundle, cid("resources"));
        REQUIRE_MESSAGE(run.exit_code == 0, run.output);
        const int pid = container_pid(runtime, cid("resources"));

        const auto value = [&](const std::string& controller, const std::string& file) {
            return trimmed(file_text(host_cgroup_dir(pid, controller) / file));
        };
        CHECK(value("cpu", "cpu.shares") == "512");
        CHECK(value("cpu", "cpu.cfs_quota_us") == "30000");
        CHECK(value("cpu", "cpu.cfs_period_us") == "60000");
        CHECK(value("cpuset", "cpuset.cpus") == "0");
        CHECK(value("cpuset", "cpuset.mems") == "0");
        CHECK(value("memory", "memory.soft_limit_in_bytes") == std::to_string(32 << 20));
        if (weight)
            CHECK(value("blkio", weight_file) == "300");
        else
            MESSAGE(name << ": blockIO.weight not checked: the kernel offers " << weight_file);
        // The machine's defaults differ, so none of these passes by accident.
        CHECK(trimmed(file_text("/sys/fs/cgroup/cpu/cpu.shares")) == "1024");
        CHECK(trimmed(file_text("/sys/fs/cgroup/cpuset/cpuset.cpus")) != "0");
        CHECK(runtime.run("delete --force " + cid("resources")).exit_code == 0);
    }
}

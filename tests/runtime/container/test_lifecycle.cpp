// The OCI lifecycle through the command line: create, start, state, kill, delete, exec, and the
// error cases of the contract.
#include "runtime/container/runtime_under_test.hpp"

#include <algorithm>
#include <chrono>
#include <doctest/doctest.h>
#include <nlohmann/json.hpp>
#include <thread>

using namespace lcloud::test;

namespace {

nlohmann::json state_of(const RuntimeUnderTest& runtime, const std::string& id) {
    const auto result = runtime.run("state " + id, true);
    REQUIRE_MESSAGE(result.exit_code == 0, result.output);
    return nlohmann::json::parse(result.output);
}

bool wait_for_status(const RuntimeUnderTest& runtime, const std::string& id,
                     const std::string& status) {
    for (int attempt = 0; attempt < 200; ++attempt) {
        if (state_of(runtime, id).at("status") == status) return true;
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    return false;
}

// Gone or a zombie: once `run -d` has returned, the container's init is an orphan that only
// the machine's pid 1 reaps, whenever it gets to it.
bool process_alive(int pid) {
    for (int attempt = 0; attempt < 200; ++attempt) {
        const std::string stat = read_text("/proc/" + std::to_string(pid) + "/stat");
        const auto end_of_name = stat.rfind(')');
        if (end_of_name == std::string::npos || stat.at(end_of_name + 2) == 'Z') return false;
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    return true;
}

} // namespace

TEST_CASE("lifecycle: create, start, state, kill, delete, with the contract's errors") {
    for (const auto& [name, binary] : runtimes_to_compare()) {
        CAPTURE(name);
        RuntimeUnderTest runtime(name, binary);
        BusyboxBundle bundle;
        bundle.set_args({"sleep", "100"});
        bundle.config["annotations"] = {{"org.lcloud.test", "yes"}};
        bundle.write_config();

        const auto create = runtime.create(bundle, "c1");
        REQUIRE_MESSAGE(create.exit_code == 0, create.output);
        auto state = state_of(runtime, "c1");
        CHECK(state.at("ociVersion").get<std::string>().starts_with("1."));
        CHECK(state.at("id") == "c1");
        CHECK(state.at("status") == "created");
        CHECK(state.at("pid").get<int>() > 0);
        CHECK(state.at("bundle") == bundle.path().string());
        CHECK(state.at("annotations").at("org.lcloud.test") == "yes");

        CHECK(runtime.create(bundle, "c1").exit_code != 0);
        CHECK(runtime.run("start c1").exit_code == 0);
        CHECK(state_of(runtime, "c1").at("status") == "running");
        CHECK(runtime.run("start c1").exit_code != 0);  // not created
        CHECK(runtime.run("delete c1").exit_code != 0); // running

        CHECK(runtime.run("kill c1 KILL").exit_code == 0);
        CHECK(wait_for_status(runtime, "c1", "stopped"));
        CHECK(runtime.run("kill c1 TERM").exit_code != 0); // stopped
        CHECK(runtime.run("delete c1").exit_code == 0);
        CHECK(runtime.run("state c1").exit_code != 0);
        CHECK(runtime.run("start nosuch").exit_code != 0);
        CHECK(runtime.run("kill nosuch").exit_code != 0);

        // As runc and crun: a container that was only created is deleted without --force.
        REQUIRE(runtime.create(bundle, "c2").exit_code == 0);
        const int pid = state_of(runtime, "c2").at("pid").get<int>();
        CHECK(runtime.run("delete c2").exit_code == 0);
        CHECK_FALSE(process_alive(pid));
        CHECK(runtime.run("list -q", true).output.empty());
    }
}

TEST_CASE("lifecycle: lcloud-runtime's errors are one clear line") {
    RuntimeUnderTest runtime("lcloud-runtime", LCLOUD_RUNTIME_BINARY);
    auto result = runtime.run("state nosuch");
    CHECK(result.exit_code == 1);
    CHECK(result.output == "lcloud-runtime: container nosuch does not exist\n");
    result = runtime.run("kill nosuch BOGUS");
    CHECK(result.exit_code != 0);
    BusyboxBundle bundle;
    bundle.set_args({"nosuchprogram"});
    result = runtime.run_bundle(bundle, "missing");
    CHECK(result.exit_code == 1);
    CHECK(result.output.find("executable file not found in $PATH") != std::string::npos);
    CHECK(runtime.run("list -q", true).output.empty()); // nothing half-made is left
    bundle.config["process"]["args"] = nlohmann::json::array();
    result = runtime.run_bundle(bundle, "noargs");
    CHECK(result.output == "lcloud-runtime: " + (bundle.path() / "config.json").string() +
                               ": process.args: must not be empty\n");
}

TEST_CASE("lifecycle: exec joins the container's namespaces and cgroup") {
    for (const auto& [name, binary] : runtimes_to_compare()) {
        CAPTURE(name);
        RuntimeUnderTest runtime(name, binary);
        BusyboxBundle bundle;
        bundle.config["hostname"] = "exec-host";
        bundle.set_args({"sleep", "100"});
        bundle.write_config();
        REQUIRE(
            runtime.run_detached("run -d --bundle '" + bundle.path().string() + "' e1").exit_code ==
            0);
        const int pid = state_of(runtime, "e1").at("pid").get<int>();
        const auto exec = runtime.run(
            "exec e1 sh -c 'hostname; readlink /proc/1/ns/pid; readlink /proc/self/ns/pid; "
            "readlink /proc/self/ns/mnt; cat /proc/1/cmdline | tr \"\\0\" \" \"'",
            true);
        REQUIRE_MESSAGE(exec.exit_code == 0, exec.output);
        const auto host_mnt = run_command("readlink /proc/" + std::to_string(pid) + "/ns/mnt");
        const auto host_pid_ns = run_command("readlink /proc/" + std::to_string(pid) + "/ns/pid");
        CHECK(exec.output == "exec-host\n" + host_pid_ns.output + host_pid_ns.output +
                                 host_mnt.output + "sleep 100 ");
        CHECK(runtime.run("exec e1 sh -c 'exit 5'").exit_code == 5);
        CHECK(runtime.run("delete --force e1").exit_code == 0);
        CHECK_FALSE(process_alive(pid));
    }
}

TEST_CASE("lifecycle: a memory limit means OOM, the pids limit holds") {
    for (const auto& [name, binary] : runtimes_to_compare()) {
        CAPTURE(name);
        RuntimeUnderTest runtime(name, binary);
        BusyboxBundle bundle;
        bundle.config["linux"]["resources"]["memory"] = {{"limit", 32 << 20}, {"swap", 32 << 20}};
        bundle.set_args({"dd", "if=/dev/zero", "of=/dev/null", "bs=128M", "count=1"});
        CHECK(runtime.run_bundle(bundle, "oom").exit_code == 137);

        BusyboxBundle pids;
        pids.config["linux"]["resources"]["pids"] = {{"limit", 8}};
        // The shell numbers each fork before trying it; the first it cannot make ends it.
        pids.set_args({"sh", "-c", "for i in $(seq 20); do echo $i; sleep 5 & done"});
        const auto result = runtime.run_bundle(pids, "pids");
        CAPTURE(result.output);
        CHECK(result.exit_code != 0);
        CHECK(result.output.find("can't fork") != std::string::npos);
        const auto last_number = result.output.substr(0, result.output.find("sh:"));
        const int attempted =
            static_cast<int>(std::count(last_number.begin(), last_number.end(), '\n'));
        CHECK(attempted >= 2);
        CHECK(attempted <= 8);
    }
}

TEST_CASE("lifecycle: a user namespace maps root to an unprivileged host id") {
    RuntimeUnderTest runtime("lcloud-runtime", LCLOUD_RUNTIME_BINARY);
    BusyboxBundle bundle;
    bundle.config["linux"]["namespaces"].push_back({{"type", "user"}});
    bundle.config["linux"]["uidMappings"] = {
        {{"containerID", 0}, {"hostID", 100000}, {"size", 65536}}};
    bundle.config["linux"]["gidMappings"] = {
        {{"containerID", 0}, {"hostID", 100000}, {"size", 65536}}};
    bundle.set_args({"sh", "-c", "id -u; cat /proc/self/uid_map | tr -s ' '"});
    // The container's root is host id 100000 and must reach the rootfs through the bundle.
    std::filesystem::permissions(bundle.path(), std::filesystem::perms(0755));
    const auto result = runtime.run_bundle(bundle, "userns", true);
    CHECK_MESSAGE(result.exit_code == 0, result.output);
    CHECK(result.output == "0\n 0 100000 65536\n");
}

// Not compared with crun: its proxy insists that its own stdin be a terminal, and ours is a pipe.
TEST_CASE("lifecycle: run and exec --tty connect the container's terminal to our stdio") {
    {
        RuntimeUnderTest runtime("lcloud-runtime", LCLOUD_RUNTIME_BINARY);
        BusyboxBundle bundle;
        bundle.config["process"]["terminal"] = true;
        bundle.set_args({"sh", "-c", "test -t 0 && test -t 1 && echo init-has-a-tty; tty"});
        const auto run = runtime.run_bundle(bundle, "t1", true);
        CHECK_MESSAGE(run.exit_code == 0, run.output);
        // A terminal's output ends lines with CR LF.
        CHECK(run.output.starts_with("init-has-a-tty\r\n/dev/pts/"));

        bundle.config["process"]["terminal"] = false;
        bundle.set_args({"sleep", "100"});
        bundle.write_config();
        REQUIRE(
            runtime.run_detached("run -d --bundle '" + bundle.path().string() + "' t2").exit_code ==
            0);
        const auto exec = runtime.run("exec --tty t2 sh -c 'test -t 1 && echo exec-has-a-tty'");
        CHECK_MESSAGE(exec.exit_code == 0, exec.output);
        CHECK(exec.output == "exec-has-a-tty\r\n");
        const auto plain = runtime.run("exec t2 sh -c 'test -t 1 || echo no-tty'");
        CHECK(plain.output == "no-tty\n");
        CHECK(runtime.run("delete --force t2").exit_code == 0);
    }
}

TEST_CASE("lifecycle: containers created and deleted at once share the default cgroup parent") {
    RuntimeUnderTest runtime("lcloud-runtime", LCLOUD_RUNTIME_BINARY);
    BusyboxBundle bundle;
    bundle.set_args({"true"});
    bundle.write_config();
    // Each deletion may remove /lcloud just as another creation makes its cgroup in it.
    const auto result =
        run_command("for i in $(seq 24); do (" +
                    runtime.command("run --bundle '" + bundle.path().string() + "' p$i") +
                    " </dev/null >/dev/null 2>&1 || echo failed p$i) & done; wait");
    CHECK(result.output == "");
    CHECK(runtime.run("list -q", true).output.empty());
    // /lcloud itself may hold the cgroups of tests running beside this one.
    for (int i = 1; i <= 24; ++i)
        CHECK_FALSE(std::filesystem::exists("/sys/fs/cgroup/memory/lcloud/p" + std::to_string(i)));
}

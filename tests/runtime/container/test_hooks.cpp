// config.json hooks through the runtime binaries: order, the state each gets on stdin, its
// environment, failures and timeouts.
#include "runtime/container/config_support.hpp"

#include <algorithm>
#include <chrono>
#include <doctest/doctest.h>
#include <nlohmann/json.hpp>

using namespace lcloud::test;
using namespace lcloud::test::features;
namespace fs = std::filesystem;

namespace {

// A host directory where hooks leave what they saw. startContainer hooks run inside the
// container, so it is bind-mounted there at the same path.
struct HookLog {
    TempDir dir;

    fs::path path() const { return dir.path(); }
    std::vector<std::string> order() const {
        std::vector<std::string> lines;
        std::istringstream in(file_text(path() / "order"));
        for (std::string line; std::getline(in, line);)
            lines.push_back(line);
        return lines;
    }
    nlohmann::json state(const std::string& hook) const {
        const std::string text = file_text(path() / (hook + ".json"));
        INFO(hook << " got: " << text);
        REQUIRE_FALSE(text.empty());
        return nlohmann::json::parse(text);
    }
};

// /bin/sh -c SCRIPT with the hook's name as $1 and the log directory as $2.
nlohmann::ordered_json shell_hook(const std::string& name, const HookLog& log,
                                  const std::string& script,
                                  const std::vector<std::string>& env = {"PATH=/usr/bin:/bin"}) {
    return {{"path", "/bin/sh"},
            {"args", {"sh", "-c", script, "hook", name, log.path().string()}},
            {"env", env}};
}

// Saves its stdin and its mount namespace, and appends one line to the order file in a single
// write.
constexpr const char* logging_script =
    "cat > \"$2/$1.json\" && readlink /proc/self/ns/mnt > \"$2/$1.mnt\" && "
    "echo \"$1 ${HOOK_MARK-} ${LCLOUD_HOOK_LEAK-unset}\" >> \"$2/order\"";

constexpr const char* hook_kinds[] = {"prestart",       "createRuntime", "createContainer",
                                      "startContainer", "poststart",     "poststop"};

void add_logging_hooks(BusyboxBundle& bundle, const HookLog& log) {
    for (const char* kind : hook_kinds)
        bundle.config["hooks"][kind] = nlohmann::ordered_json::array(
            {shell_hook(kind, log, logging_script,
                        {"PATH=/usr/bin:/bin", std::string("HOOK_MARK=") + kind + "-env"})});
    bundle.config["mounts"].push_back(
        bind_mount(log.path().string(), log.path().string(), {"rbind"}));
}

// create with LCLOUD_HOOK_LEAK set in the runtime's environment: hooks must not inherit it.
CommandResult create_with_leaky_env(const RuntimeUnderTest& runtime, const BusyboxBundle& bundle,
                                    const std::string& id) {
    bundle.write_config();
    TempDir out;
    const auto log = out.path() / "out";
    auto result = run_command(
        "LCLOUD_HOOK_LEAK=yes " +
        runtime.command("create --bundle " + shell_quote(bundle.path().string()) + " " + id) +
        " </dev/null >" + shell_quote(log.string()));
    result.output += file_text(log);
    return result;
}

std::string link_target(const std::string& path) {
    std::error_code error;
    return fs::read_symlink(path, error).string();
}

// The output without its final newline, or "(not one line)".
std::string one_line(const std::string& output) {
    const std::string line = trimmed(output);
    return line.find('\n') == std::string::npos ? line : "(not one line): " + output;
}

std::vector<fs::path> cgroup_dirs_from(const std::string& proc_cgroup) {
    std::vector<fs::path> dirs;
    std::istringstream in(proc_cgroup);
    for (std::string line; std::getline(in, line);) {
        const size_t first = line.find(':'), second = line.find(':', first + 1);
        const std::string controllers = line.substr(first + 1, second - first - 1);
        const std::string path = line.substr(second + 1);
        if (path == "/" || controllers.starts_with("name=")) continue;
        const fs::path hierarchy =
            controllers.empty()
                ? fs::path("/sys/fs/cgroup/unified")
                : fs::path("/sys/fs/cgroup") / controllers.substr(0, controllers.find(','));
        dirs.push_back(hierarchy / path.substr(1));
    }
    return dirs;
}

} // namespace

TEST_CASE("config hooks: each kind runs once, in order, with the state on stdin") {
    for (const auto& [name, binary] : runtimes_to_compare()) {
        CAPTURE(name);
        RuntimeUnderTest runtime(name, binary);
        BusyboxBundle bundle;
        HookLog log;
        add_logging_hooks(bundle, log);
        bundle.set_args({"sleep", "100"});

        const auto create = create_with_leaky_env(runtime, bundle, cid("hooks"));
        REQUIRE_MESSAGE(create.exit_code == 0, create.output);
        const int pid = container_pid(runtime, cid("hooks"));
        const std::string container_mnt = link_target("/proc/" + std::to_string(pid) + "/ns/mnt");
        const auto start = runtime.run("start " + cid("hooks"));
        REQUIRE_MESSAGE(start.exit_code == 0, start.output);
        // startContainer runs in the container after start has let it go.
        CHECK(eventually([&] { return log.order().size() >= 5; }));
        CHECK(runtime.run("kill " + cid("hooks") + " KILL").exit_code == 0);
        CHECK(wait_for_status(runtime, cid("hooks"), "stopped"));
        const auto removal = runtime.run("delete " + cid("hooks"));
        CHECK_MESSAGE(removal.exit_code == 0, removal.output);

        const auto order = log.order();
        CAPTURE(order);
        REQUIRE(order.size() == 6);
        for (size_t i = 0; i < order.size(); ++i) {
            // Every hook gets its own env, and nothing of the runtime's.
            const std::string kind = order[i].substr(0, order[i].find(' '));
            CHECK(order[i] == kind + " " + kind + "-env unset");
        }
        CHECK(order[0].starts_with("prestart "));
        CHECK(order[1].starts_with("createRuntime "));
        CHECK(order[2].starts_with("createContainer "));
        CHECK(order[5].starts_with("poststop "));
        // crun and runc let `start` run poststart while the container still runs its
        // startContainer hooks; the spec wants poststart after the user's process started.
        std::vector<std::string> middle = {order[3].substr(0, order[3].find(' ')),
                                           order[4].substr(0, order[4].find(' '))};
        if (name == "lcloud-runtime")
            CHECK(middle == std::vector<std::string>{"startContainer", "poststart"});
        std::sort(middle.begin(), middle.end());
        CHECK(middle == std::vector<std::string>{"poststart", "startContainer"});

        for (const std::string kind : hook_kinds) {
            CAPTURE(kind);
            const auto state = log.state(kind);
            CAPTURE(state.dump());
            CHECK(state.at("id") == cid("hooks"));
            const std::string status = state.at("status");
            const int seen_pid = state.at("pid");
            // crun 1.8 gives the hooks that run in the container pid 0, and startContainer
            // the bundle "/" and a status the spec does not have, "starting".
            const bool in_container = kind == "createContainer" || kind == "startContainer";
            const bool crun_quirk = name == "crun" && in_container;
            if (!crun_quirk || kind != "startContainer")
                CHECK(state.at("bundle") == bundle.path().string());
            if (kind == "poststart") {
                CHECK(status == "running");
                CHECK(seen_pid == pid);
            } else if (kind == "poststop") {
                CHECK(status == "stopped");
            } else if (!crun_quirk || kind != "startContainer") {
                // runc says creating, crun created.
                CHECK((status == "creating" || status == "created"));
            }
            // The spec asks for the host's pid while the container is created or running.
            if (kind != "poststop" && !crun_quirk) CHECK(seen_pid == pid);
            // createContainer and startContainer run in the container's mount namespace, the
            // others in the runtime's.
            CHECK(trimmed(file_text(log.path() / (kind + ".mnt"))) ==
                  (in_container ? container_mnt : link_target("/proc/self/ns/mnt")));
        }
        CHECK(runtime.run("list -q", true).output.empty());
    }
}

TEST_CASE("config hooks: a failing prestart hook fails create and leaves nothing behind") {
    for (const auto& [name, binary] : runtimes_to_compare()) {
        CAPTURE(name);
        RuntimeUnderTest runtime(name, binary);
        BusyboxBundle bundle;
        HookLog log;
        // Records the container's cgroups as they are while the hook runs, then fails.
        bundle.config["hooks"]["prestart"] = nlohmann::ordered_json::array({shell_hook(
            "prestart", log,
            "cat > \"$2/$1.json\"; "
            "pid=$(sed -n 's/.*\"pid\": *\\([0-9][0-9]*\\).*/\\1/p' \"$2/$1.json\" | head -n1); "
            "cat /proc/$pid/cgroup > \"$2/cgroup\"; exit 3")});
        for (const char* kind : {"createRuntime", "poststop"})
            bundle.config["hooks"][kind] =
                nlohmann::ordered_json::array({shell_hook(kind, log, logging_script)});
        bundle.set_args({"sleep", "100"});

        const auto create = runtime.create(bundle, cid("failing"));
        CAPTURE(create.output);
        CHECK(create.exit_code != 0);
        if (name == "lcloud-runtime")
            CHECK(one_line(create.output) ==
                  "lcloud-runtime: prestart hook /bin/sh failed (exit status 3)");
        // As with crun: no later hook runs, poststop neither.
        CHECK(file_text(log.path() / "order").empty());
        const int pid = log.state("prestart").at("pid");
        CHECK(pid > 0);
        CHECK(process_gone(pid));
        CHECK(runtime.run("list -q", true).output.empty());
        const auto dirs = cgroup_dirs_from(file_text(log.path() / "cgroup"));
        CHECK(dirs.size() >= 2);
        for (const auto& dir : dirs) {
            CAPTURE(dir);
            CHECK_FALSE(fs::exists(dir));
        }
    }
}

TEST_CASE("config hooks: a hook past its timeout is killed and fails create") {
    for (const auto& [name, binary] : runtimes_to_compare()) {
        CAPTURE(name);
        RuntimeUnderTest runtime(name, binary);
        BusyboxBundle bundle;
        HookLog log;
        auto hook = shell_hook("createRuntime", log, "echo $$ > \"$2/pid\"; exec sleep 60");
        hook["timeout"] = 1;
        bundle.config["hooks"]["createRuntime"] = nlohmann::json::array({hook});
        bundle.set_args({"sleep", "100"});

        const auto started = std::chrono::steady_clock::now();
        const auto create = runtime.create(bundle, cid("slow"));
        const auto took = std::chrono::steady_clock::now() - started;
        CAPTURE(create.output);
        CHECK(create.exit_code != 0);
        CHECK(took < std::chrono::seconds(10));
        if (name == "lcloud-runtime")
            CHECK(one_line(create.output) ==
                  "lcloud-runtime: createRuntime hook /bin/sh timed out after 1 s");
        const std::string hook_pid = trimmed(file_text(log.path() / "pid"));
        REQUIRE_FALSE(hook_pid.empty());
        CHECK(process_gone(std::stoi(hook_pid)));
        CHECK(runtime.run("list -q", true).output.empty());
    }
}

TEST_CASE("config hooks: failing poststart and poststop hooks are warnings, later ones run") {
    for (const auto& [name, binary] : runtimes_to_compare()) {
        CAPTURE(name);
        RuntimeUnderTest runtime(name, binary);
        BusyboxBundle bundle;
        HookLog log;
        for (const char* kind : {"poststart", "poststop"})
            bundle.config["hooks"][kind] =
                nlohmann::ordered_json::array({shell_hook(kind, log, "cat >/dev/null; exit 4"),
                                               shell_hook(kind, log, logging_script)});
        bundle.set_args({"sleep", "100"});
        REQUIRE(runtime.create(bundle, cid("warned")).exit_code == 0);

        const auto start = runtime.run("start " + cid("warned"));
        CAPTURE(start.output);
        CHECK(start.exit_code == 0);
        if (name == "lcloud-runtime")
            CHECK(start.output == "lcloud-runtime: warning: container " + cid("warned") +
                                      " started, but poststart hook /bin/sh failed (exit "
                                      "status 4)\n");
        CHECK(container_state(runtime, cid("warned")).at("status") == "running");
        CHECK(runtime.run("kill " + cid("warned") + " KILL").exit_code == 0);
        CHECK(wait_for_status(runtime, cid("warned"), "stopped"));
        const auto removal = runtime.run("delete " + cid("warned"));
        CAPTURE(removal.output);
        CHECK(removal.exit_code == 0);
        if (name == "lcloud-runtime")
            CHECK(removal.output == "lcloud-runtime: warning: container " + cid("warned") +
                                        ": poststop hook /bin/sh failed (exit status 4)\n");
        CHECK(log.order() == std::vector<std::string>{"poststart  unset", "poststop  unset"});
        CHECK(runtime.run("list -q", true).output.empty());
    }
}

TEST_CASE("config hooks: a failing startContainer hook stops the container before its program") {
    for (const auto& [name, binary] : runtimes_to_compare()) {
        CAPTURE(name);
        RuntimeUnderTest runtime(name, binary);
        BusyboxBundle bundle;
        HookLog log;
        bundle.config["hooks"]["startContainer"] = nlohmann::ordered_json::array(
            {shell_hook("startContainer", log, "cat >/dev/null; exit 4")});
        bundle.config["mounts"].push_back(
            bind_mount(log.path().string(), log.path().string(), {"bind"}));
        bundle.set_args({"sh", "-c", "echo > " + (log.path() / "ran").string() + "; sleep 100"});
        REQUIRE(runtime.create(bundle, cid("unstarted")).exit_code == 0);

        const auto start = runtime.run("start " + cid("unstarted"));
        CAPTURE(start.output);
        // The spec wants an error; crun 1.8 reports success and the container just stops.
        if (name == "lcloud-runtime") {
            CHECK(start.exit_code == 1);
            CHECK(start.output == "lcloud-runtime: container " + cid("unstarted") +
                                      " exited before running its process (in a startContainer "
                                      "hook or at exec); its error went to the container's "
                                      "stderr\n");
        }
        CHECK(wait_for_status(runtime, cid("unstarted"), "stopped"));
        CHECK_FALSE(fs::exists(log.path() / "ran"));
        CHECK(runtime.run("delete " + cid("unstarted")).exit_code == 0);
        CHECK(runtime.run("list -q", true).output.empty());
    }
}

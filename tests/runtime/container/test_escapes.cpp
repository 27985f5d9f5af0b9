// Container escapes that other runtimes shipped, attempted through the real lcloud-runtime
// binary: each attempt must stay inside the container or be refused with a clear error.
// (CVE-2019-5736, the /proc/self/exe overwrite, is tested elsewhere.)
#include "runtime/container/escape_support.hpp"

#include <doctest/doctest.h>
#include <functional>
#include <sys/stat.h>
#include <sys/sysmacros.h>

using namespace lcloud::test;
namespace fs = std::filesystem;

namespace {

std::string quoted(const fs::path& path) {
    return "'" + path.string() + "'";
}

bool contains(const std::string& text, const std::string& part) {
    return text.find(part) != std::string::npos;
}

// Redirections that leave the calling shell, and so the runtime it starts, holding host files
// open on fds 6 to 9, none of them close-on-exec: a host file, the secret, a file open for
// writing, and the secret's directory.
std::string hold_host_fds(const HostSecret& secret, const fs::path& scratch) {
    return "exec 6</etc/hostname 7<" + quoted(secret.dir / "secret") + " 8>" +
           quoted(scratch / "written") + " 9<" + quoted(secret.dir) + "; ";
}

CommandResult run_in(const RuntimeUnderTest& runtime, const BusyboxBundle& bundle,
                     const std::string& id, const std::string& prefix = "") {
    bundle.write_config();
    return run_command(prefix +
                       runtime.command("run --bundle " + quoted(bundle.path()) + " " + id) +
                       " </dev/null");
}

// `run -d`; the container's stdout goes to a file, as RuntimeUnderTest::run_detached says why.
CommandResult run_detached_in(const RuntimeUnderTest& runtime, const BusyboxBundle& bundle,
                              const std::string& id, const fs::path& log,
                              const std::string& prefix = "") {
    bundle.write_config();
    return run_command(prefix +
                       runtime.command("run -d --bundle " + quoted(bundle.path()) + " " + id) +
                       " </dev/null >" + quoted(log));
}

void replace_with_symlink(const fs::path& path, const std::string& target) {
    fs::remove_all(path);
    fs::create_symlink(target, path);
}

// The config's mounts without the one at `destination`.
void remove_mount(BusyboxBundle& bundle, const std::string& destination) {
    auto& mounts = bundle.config["mounts"];
    for (auto it = mounts.begin(); it != mounts.end(); ++it)
        if ((*it)["destination"] == destination) {
            mounts.erase(it);
            return;
        }
    FAIL("the default config has no mount at " << destination);
}

const std::string no_caps = "0000000000000000";

} // namespace

TEST_CASE("escapes: the caller's open host descriptors reach neither the init nor an exec") {
    for (const auto& [name, binary] : runtimes_to_compare()) {
        CAPTURE(name);
        TempDir host;
        const HostSecret secret(host.path(), "fd-target");
        const std::string fds = hold_host_fds(secret, host.path());
        // The runtime does get them: without that the test would prove nothing.
        const auto held = run_command(fds + "readlink /proc/self/fd/7 /proc/self/fd/9", true);
        REQUIRE(held.output ==
                (secret.dir / "secret").string() + "\n" + secret.dir.string() + "\n");

        RuntimeUnderTest runtime(name, binary);
        BusyboxBundle bundle;
        // ls's own descriptor, of the directory it lists, is 3.
        const std::string list_fds =
            "ls /proc/self/fd | tr '\\n' ' '; echo; ls -l /proc/self/fd; cat <&7; cat <&9";
        bundle.set_args({"sh", "-c", list_fds});
        const auto init = run_in(runtime, bundle, "fds-init", fds);
        CHECK_MESSAGE(init.exit_code != 0, init.output); // the last cat's fd 9 is closed
        CHECK_MESSAGE(init.output.starts_with("0 1 2 3 \n"), init.output);
        CHECK_FALSE(contains(init.output, secret.marker));
        CHECK_FALSE(contains(init.output, host.path().string()));
        CHECK_FALSE(contains(init.output, "hostname"));

        bundle.set_args({"sleep", "100"});
        const auto started =
            run_detached_in(runtime, bundle, "fds-exec", host.path() / "detached.log", fds);
        REQUIRE_MESSAGE(started.exit_code == 0, started.output);
        const auto exec = run_command(
            fds +
            runtime.command("exec fds-exec sh -c \"ls /proc/1/fd | tr '\\n' ' '; echo; " +
                            list_fds + "\"") +
            " </dev/null");
        CHECK_MESSAGE(exec.exit_code != 0, exec.output);
        // The detached init holds its stdio only; the exec'd shell the same, plus ls's own.
        CHECK_MESSAGE(exec.output.starts_with("0 1 2 \n0 1 2 3 \n"), exec.output);
        CHECK_FALSE(contains(exec.output, secret.marker));
        CHECK_FALSE(contains(exec.output, host.path().string()));
        CHECK_FALSE(contains(exec.output, "hostname"));
    }
}

TEST_CASE("escapes: a working directory under /proc/self/fd does not lead out of the root") {
    TempDir host;
    const HostSecret secret(host.path(), "cwd-target");
    RuntimeUnderTest runtime("lcloud-runtime", LCLOUD_RUNTIME_BINARY);
    const std::string fds = hold_host_fds(secret, host.path());
    // From a directory outside the root "secret" may be the host's own, and enough ".." reach
    // the host's "/" however deep the directory is.
    const std::string script = "pwd; cat secret; cat ../../../../../../../../../.." +
                               (secret.dir / "secret").string() + "; ls";

    // The caller's descriptors (6 a file, 9 the secret's directory), the runtime's own ones
    // whatever their numbers, a path climbing out of a leaked directory, and one that would make
    // the runtime create a directory through it.
    std::vector<std::string> cwds = {"/proc/self/fd/9/..", "/proc/self/fd/9/created-by-runtime",
                                     "/created/../proc/self/fd/9", "/proc/self/cwd/..",
                                     "/proc/1/cwd/.."};
    for (int fd = 3; fd <= 15; ++fd)
        cwds.push_back("/proc/self/fd/" + std::to_string(fd));

    BusyboxBundle bundle;
    bundle.set_args({"sleep", "100"});
    REQUIRE(run_detached_in(runtime, bundle, "cwd-exec", host.path() / "detached.log").exit_code ==
            0);
    write_text(host.path() / "written", "");
    const auto host_before = listing(host.path());
    for (const auto& cwd : cwds) {
        CAPTURE(cwd);
        bundle.config["process"]["cwd"] = cwd;
        bundle.set_args({"sh", "-c", script});
        const auto init = run_in(runtime, bundle, "cwd-init", fds);
        const auto exec = run_command(
            fds + runtime.command("exec --cwd '" + cwd + "' cwd-exec sh -c '" + script + "'") +
            " </dev/null");
        for (const auto& [how, result] :
             {std::pair{std::string("run"), init}, std::pair{std::string("exec"), exec}}) {
            CAPTURE(how);
            INFO(result.output);
            CHECK_FALSE(contains(result.output, secret.marker));
            if (result.exit_code == 0) {
                // Contained: the directory is one of the container's.
                CHECK(result.output.starts_with("/"));
                CHECK_FALSE(contains(result.output, "unreachable"));
            } else {
                // Refused: the error names the working directory.
                CHECK(contains(result.output, "working directory"));
                CHECK(contains(result.output, cwd));
            }
        }
        CHECK(listing(secret.dir) == std::vector<std::string>{"secret"});
        CHECK(listing(host.path()) == host_before);
    }
}

TEST_CASE("escapes: a mount onto a symlink that points out of the rootfs stays inside it") {
    fs::path shared_base;
    {
        SharedHostDir shared;
        shared_base = shared.base();
        const HostSecret secret(shared.path(), "mount-target");
        TempDir source;
        const std::string source_marker = unique_marker("bind-source");
        write_text(source.path() / "marker", source_marker);
        const std::string host_dir = secret.dir.string();

        const std::vector<std::pair<std::string, std::string>> links = {
            {"absolute", "/../../../.." + host_dir},
            {"relative", "../../../../../../../../.." + host_dir},
            // Through the init's /proc, which is mounted by then: its root is still the host's.
            {"magic link", "/proc/1/root" + host_dir},
            {"runtime's cwd", "/proc/self/cwd/../../../../../../../../.." + host_dir},
        };
        RuntimeUnderTest runtime("lcloud-runtime", LCLOUD_RUNTIME_BINARY);
        for (const auto& [label, target] : links) {
            for (const bool tmpfs : {false, true}) {
                CAPTURE(label);
                CAPTURE(tmpfs);
                BusyboxBundle bundle;
                replace_with_symlink(bundle.rootfs() / "data", target);
                // A mount that reached the shared host directory would show in our mount table.
                bundle.config["linux"]["rootfsPropagation"] = "rshared";
                if (tmpfs) {
                    bundle.config["mounts"].push_back(
                        {{"destination", "/data"}, {"type", "tmpfs"}, {"source", "tmpfs"}});
                    bundle.set_args({"sh", "-c",
                                     "touch /data/written-by-container && grep -cF ' " + host_dir +
                                         " ' /proc/self/mountinfo; cat " + host_dir + "/secret"});
                } else {
                    bundle.config["mounts"].push_back({{"destination", "/data"},
                                                       {"type", "bind"},
                                                       {"source", source.path().string()},
                                                       {"options", {"rbind"}}});
                    bundle.set_args({"sh", "-c",
                                     "cat /data/marker; echo; cat " + host_dir +
                                         "/marker; echo; cat " + host_dir + "/secret"});
                }
                const auto result = runtime.run_bundle(bundle, "symlinked");
                INFO(result.output);
                CHECK_FALSE(contains(result.output, secret.marker));
                if (contains(result.output, "lcloud-runtime:")) {
                    // Refused: the error names the destination.
                    CHECK(contains(result.output, "/data"));
                } else if (tmpfs) {
                    // Contained: the tmpfs is at the symlink's target inside the rootfs.
                    CHECK(result.output.starts_with("1\n"));
                } else {
                    CHECK(result.output.starts_with(source_marker + "\n" + source_marker + "\n"));
                }
                CHECK(mounts_mentioning(secret.dir).empty());
                CHECK(listing(secret.dir) == std::vector<std::string>{"secret"});
                CHECK(read_text(secret.dir / "secret") == secret.marker);
            }
        }
        CHECK(listing(source.path()) == std::vector<std::string>{"marker"});
    }
    // Whatever reached the shared directory went with it; nothing of ours is left mounted.
    CHECK(mounts_mentioning(shared_base).empty());
    CHECK_FALSE(fs::exists(shared_base));
}

TEST_CASE("escapes: masking with the rootfs's own hostile /dev/null binds nothing it points to") {
    const std::string core_pattern = read_text("/proc/sys/kernel/core_pattern");
    TempDir host;
    const HostSecret secret(host.path(), "dev-target");
    // For a rootfs whose /dev is a symlink to this directory: its "null" leads to the secret.
    fs::create_symlink(secret.dir / "secret", secret.dir / "null");
    const std::string masked = fs::exists("/proc/kcore") ? "/proc/kcore" : "/proc/timer_list";
    REQUIRE(read_text(masked).size() > 0);
    const std::string rootfs_marker = unique_marker("rootfs-shadow");

    using Prepare = std::function<void(const fs::path& rootfs)>;
    const auto device = [](unsigned minor) {
        return [minor](const fs::path& rootfs) {
            REQUIRE(::mknod((rootfs / "dev/null").c_str(), S_IFCHR | 0666, makedev(1, minor)) == 0);
        };
    };
    const auto null_link = [](const std::string& target) {
        return
            [target](const fs::path& rootfs) { fs::create_symlink(target, rootfs / "dev/null"); };
    };
    const std::vector<std::pair<std::string, Prepare>> hostile = {
        {"symlink to a rootfs file", null_link("/etc/shadow")},
        {"relative symlink to a rootfs file", null_link("../etc/shadow")},
        {"symlink to core_pattern", null_link("/proc/sys/kernel/core_pattern")},
        {"symlink to a host file", null_link((secret.dir / "secret").string())},
        {"regular file",
         [&](const fs::path& rootfs) { write_text(rootfs / "dev/null", rootfs_marker); }},
        {"character device 1:5 (zero)", device(5)},
        {"/dev a symlink to a host directory",
         [&](const fs::path& rootfs) {
             replace_with_symlink(rootfs / "dev", secret.dir.string());
         }},
    };

    RuntimeUnderTest runtime("lcloud-runtime", LCLOUD_RUNTIME_BINARY);
    const auto attempt = [&](const Prepare& prepare) {
        BusyboxBundle bundle;
        remove_mount(bundle, "/dev");
        write_text(bundle.rootfs() / "etc/shadow", rootfs_marker);
        prepare(bundle.rootfs());
        bundle.set_args({"sh", "-c", "head -c 64 " + masked + " | wc -c; head -c 64 " + masked});
        auto result = runtime.run_bundle(bundle, "masking");
        CHECK(mounts_mentioning(bundle.path()).empty());
        return result;
    };

    // The control: a real /dev/null in the rootfs masks as it should.
    const auto control = attempt(device(3));
    REQUIRE_MESSAGE(control.exit_code == 0, control.output);
    CHECK(control.output == "0\n");

    for (const auto& [label, prepare] : hostile) {
        CAPTURE(label);
        const auto result = attempt(prepare);
        INFO(result.output);
        CHECK_FALSE(contains(result.output, rootfs_marker));
        CHECK_FALSE(contains(result.output, secret.marker));
        if (result.exit_code == 0)
            CHECK(result.output == "0\n");
        else
            CHECK(contains(result.output, "/dev/null"));
    }
    CHECK(read_text("/proc/sys/kernel/core_pattern") == core_pattern);
    CHECK(mounts_mentioning(host.path()).empty());
}

TEST_CASE("escapes: proc and sysfs onto a symlink that points out of the rootfs are refused") {
    fs::path shared_base;
    {
        SharedHostDir shared;
        shared_base = shared.base();
        const HostSecret secret(shared.path(), "proc-target");
        const std::string host_dir = secret.dir.string();
        RuntimeUnderTest runtime("lcloud-runtime", LCLOUD_RUNTIME_BINARY);
        for (const std::string dir : {"proc", "sys"}) {
            for (const std::string& target :
                 {"/../.." + host_dir, "../../../../../.." + host_dir}) {
                CAPTURE(dir);
                CAPTURE(target);
                BusyboxBundle bundle;
                replace_with_symlink(bundle.rootfs() / dir, target);
                bundle.config["linux"]["rootfsPropagation"] = "rshared";
                bundle.set_args({"sh", "-c",
                                 "test -e " + host_dir + "/self/status -o -e " + host_dir +
                                     "/kernel && echo mounted-inside; cat " + host_dir +
                                     "/secret"});
                const auto result = runtime.run_bundle(bundle, "symlinked-" + dir);
                INFO(result.output);
                CHECK_FALSE(contains(result.output, secret.marker));
                // Refused, or contained: then the cat of the host's secret found nothing.
                CHECK(result.exit_code != 0);
                if (!contains(result.output, "mounted-inside")) {
                    // The init refuses before the runtime sends it "go", and exits; the runtime's
                    // send then fails (EPIPE) and it reports that instead of the init's error,
                    // which waits unread on the sync socket. To be fixed in create.cpp.
                    WARN_MESSAGE(contains(result.output, "/" + dir + " in the rootfs is a symlink"),
                                 "the refusal's reason was lost: " << result.output);
                }
                CHECK(mounts_mentioning(secret.dir).empty());
                CHECK(listing(secret.dir) == std::vector<std::string>{"secret"});
            }
        }
    }
    // Whatever reached the shared directory went with it; nothing of ours is left mounted.
    CHECK(mounts_mentioning(shared_base).empty());
    CHECK_FALSE(fs::exists(shared_base));
}

TEST_CASE("escapes: no inheritable or ambient capability is left on the init or an exec") {
    // The caller's own inheritable and ambient sets, which execve keeps for root, must not
    // reach the container either.
    const std::string leftover = "setpriv --inh-caps +net_raw,+sys_admin --ambient-caps +net_raw ";
    REQUIRE(status_field(run_command(leftover + "cat /proc/self/status", true).output, "CapAmb") ==
            "0000000000002000");
    for (const auto& [name, binary] : runtimes_to_compare()) {
        for (const std::string& prefix : {std::string(), leftover}) {
            CAPTURE(name);
            CAPTURE(prefix);
            TempDir scratch;
            RuntimeUnderTest runtime(name, binary);
            BusyboxBundle bundle;
            bundle.set_args({"cat", "/proc/self/status"});
            const auto init = run_in(runtime, bundle, "caps-init", prefix);
            REQUIRE_MESSAGE(init.exit_code == 0, init.output);
            CHECK(status_field(init.output, "CapInh") == no_caps);
            CHECK(status_field(init.output, "CapAmb") == no_caps);
            CHECK(status_field(init.output, "CapEff") != no_caps);

            bundle.set_args({"sleep", "100"});
            REQUIRE(run_detached_in(runtime, bundle, "caps-exec", scratch.path() / "log", prefix)
                        .exit_code == 0);
            const auto exec =
                run_command(prefix + runtime.command("exec caps-exec cat /proc/self/status"));
            REQUIRE_MESSAGE(exec.exit_code == 0, exec.output);
            CHECK(status_field(exec.output, "CapInh") == no_caps);
            CHECK(status_field(exec.output, "CapAmb") == no_caps);
            CHECK(status_field(exec.output, "CapEff") == status_field(init.output, "CapEff"));
        }
    }
}

TEST_CASE("escapes: an inheritable capability is set only as the config lists it") {
    for (const auto& [name, binary] : runtimes_to_compare()) {
        CAPTURE(name);
        TempDir scratch;
        RuntimeUnderTest runtime(name, binary);
        BusyboxBundle bundle;
        bundle.config["process"]["capabilities"]["inheritable"] = {"CAP_NET_RAW"};
        bundle.set_args({"cat", "/proc/self/status"});
        const auto init = run_in(runtime, bundle, "inh-init");
        REQUIRE_MESSAGE(init.exit_code == 0, init.output);
        CHECK(status_field(init.output, "CapInh") == "0000000000002000");
        CHECK(status_field(init.output, "CapAmb") == no_caps);

        bundle.set_args({"sleep", "100"});
        REQUIRE(run_detached_in(runtime, bundle, "inh-exec", scratch.path() / "log").exit_code ==
                0);
        const auto exec = run_command(runtime.command("exec inh-exec cat /proc/self/status"));
        REQUIRE_MESSAGE(exec.exit_code == 0, exec.output);
        CHECK(status_field(exec.output, "CapInh") == "0000000000002000");
        CHECK(status_field(exec.output, "CapAmb") == no_caps);
    }
}

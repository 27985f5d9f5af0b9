// Standard behaviour from inside containers, against lcloud-runtime and crun alike.
#include "runtime/container/runtime_under_test.hpp"

#include <doctest/doctest.h>
#include <fstream>

using namespace lcloud::test;

namespace {

// Docker's default capability set as a /proc/PID/status mask.
constexpr const char* docker_default_caps = "00000000a80425fb";

std::string status_field(const std::string& status, const std::string& field) {
    const auto start = status.find(field + ":");
    if (start == std::string::npos) return "(missing)";
    const auto value = status.find_first_not_of(" \t", start + field.size() + 1);
    return status.substr(value, status.find('\n', value) - value);
}

} // namespace

TEST_CASE("runtime behaviour: the container's process is pid 1 in its own hostname and mounts") {
    for (const auto& [name, binary] : runtimes_to_compare()) {
        CAPTURE(name);
        RuntimeUnderTest runtime(name, binary);
        BusyboxBundle bundle;
        bundle.config["hostname"] = "box-" + name;
        // This machine's kernel has no /proc/kcore; /proc/timer_list is masked the same way and
        // full of host detail.
        const std::string masked =
            std::filesystem::exists("/proc/kcore") ? "/proc/kcore" : "/proc/timer_list";
        REQUIRE(run_command("test -s " + masked + " || head -c1 " + masked + " | grep -q .")
                    .exit_code == 0);
        bundle.set_args({"sh", "-c",
                         "echo pid=$$; hostname; grep -c ' /work\\| /root ' /proc/self/mountinfo; "
                         "wc -c < " +
                             masked + "; cat /proc/self/status"});
        const auto result = runtime.run_bundle(bundle, "iso", true);
        REQUIRE_MESSAGE(result.exit_code == 0, result.output);
        CHECK_MESSAGE(result.output.starts_with("pid=1\nbox-" + name + "\n0\n0\n"), result.output);
        CHECK(status_field(result.output, "CapEff") == docker_default_caps);
        CHECK(status_field(result.output, "CapPrm") == docker_default_caps);
        CHECK(status_field(result.output, "CapBnd") == docker_default_caps);
        CHECK(status_field(result.output, "CapInh") == "0000000000000000");
        CHECK(status_field(result.output, "CapAmb") == "0000000000000000");
        CHECK(status_field(result.output, "NoNewPrivs") == "1");
        CHECK(status_field(result.output, "Seccomp") == "2");
    }
}

TEST_CASE("runtime behaviour: exit codes pass through, seccomp refuses mount(2)") {
    for (const auto& [name, binary] : runtimes_to_compare()) {
        CAPTURE(name);
        RuntimeUnderTest runtime(name, binary);
        BusyboxBundle bundle;
        bundle.set_args({"sh", "-c", "exit 7"});
        CHECK(runtime.run_bundle(bundle, "exit7").exit_code == 7);
        bundle.set_args({"true"});
        CHECK(runtime.run_bundle(bundle, "true").exit_code == 0);
        bundle.set_args({"mount", "-t", "tmpfs", "none", "/tmp"});
        const auto mount = runtime.run_bundle(bundle, "mount");
        CHECK(mount.exit_code != 0);
        CHECK(mount.output.find("denied") != std::string::npos);
    }
}

TEST_CASE("runtime behaviour: user and working directory, environment") {
    for (const auto& [name, binary] : runtimes_to_compare()) {
        CAPTURE(name);
        RuntimeUnderTest runtime(name, binary);
        BusyboxBundle bundle;
        bundle.config["process"]["user"] = {{"uid", 1000}, {"gid", 1000}, {"additionalGids", {10}}};
        bundle.config["process"]["cwd"] = "/data";
        bundle.config["process"]["env"].push_back("GREETING=hello");
        bundle.set_args({"sh", "-c", "id -u; id -g; id -G; pwd; echo $GREETING"});
        const auto result = runtime.run_bundle(bundle, "user", true);
        CHECK(result.exit_code == 0);
        CHECK(result.output == "1000\n1000\n1000 10\n/data\nhello\n");
    }
}

#include "common/error.hpp"
#include "runtime/cgroups/convert.hpp"
#include "runtime/cgroups/layout.hpp"
#include "support/temp_dir.hpp"

#include <doctest/doctest.h>

#include <algorithm>
#include <string>

using namespace lcloud::runtime::cgroups;
using lcloud::Error;
using lcloud::runtime::oci::DeviceRule;

namespace {

std::string error_of(const auto& action) {
    try {
        action();
    } catch (const Error& error) {
        return error.what();
    }
    return "(no error)";
}

const Hierarchy* find(const std::vector<Hierarchy>& hierarchies, const char* controller) {
    for (const Hierarchy& hierarchy : hierarchies)
        if (controller ? hierarchy.has(controller) : hierarchy.unified) return &hierarchy;
    return nullptr;
}

} // namespace

TEST_CASE("cgroups: the layout of this host is hybrid, and each mount is told apart") {
    CHECK(detect_layout() == Layout::hybrid);
    CHECK(detect_layout("/sys/fs/cgroup/unified") == Layout::v2);
    CHECK(detect_layout("/sys/fs/cgroup/memory") == Layout::v1);
    lcloud::test::TempDir not_cgroup;
    CHECK(error_of([&] { detect_layout(not_cgroup.path()); }).find("is not a cgroup file system") !=
          std::string::npos);
    CHECK(error_of([] {
              detect_layout("/nonexistent-cgroup-root");
          }).find("statfs /nonexistent-cgroup-root") != std::string::npos);
}

TEST_CASE("cgroups: mountinfo gives one hierarchy per mount, co-mounted controllers together") {
    const std::string mountinfo =
        "31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755\n"
        "32 31 0:29 / /sys/fs/cgroup/cpu,cpuacct rw,relatime shared:9 - cgroup cgroup "
        "rw,cpu,cpuacct\n"
        "35 31 0:32 / /sys/fs/cgroup/memory rw - cgroup cgroup rw,memory,clone_children\n"
        "40 31 0:37 / /sys/fs/cgroup/systemd rw - cgroup cgroup rw,xattr,name=systemd\n"
        "41 31 0:38 / /sys/fs/cgroup/unified rw - cgroup2 cgroup2 rw,nsdelegate\n"
        "90 23 0:32 /lcloud /tmp/mem\\040bind rw - cgroup cgroup rw,memory\n"
        "91 23 0:29 /a /srv/cpu\\040x rw - cgroup cgroup rw,cpu,cpuacct\n";
    const std::vector<Hierarchy> all = parse_mountinfo(mountinfo);
    REQUIRE(all.size() == 4);
    const Hierarchy* cpu = find(all, "cpu");
    REQUIRE(cpu);
    CHECK(cpu == find(all, "cpuacct"));
    CHECK(cpu->mountpoint == "/sys/fs/cgroup/cpu,cpuacct");
    CHECK(cpu->controllers == std::vector<std::string>{"cpu", "cpuacct"});
    const Hierarchy* memory = find(all, "memory");
    REQUIRE(memory);
    CHECK(memory->mountpoint == "/sys/fs/cgroup/memory"); // the bind mount of a subtree loses
    CHECK(memory->controllers == std::vector<std::string>{"memory"});
    CHECK(find(all, "name=systemd"));
    const Hierarchy* unified = find(all, nullptr);
    REQUIRE(unified);
    CHECK(unified->mountpoint == "/sys/fs/cgroup/unified");
    CHECK(unified->controllers.empty());

    // Only a subtree mounted, as inside a container: paths map below it, others are refused.
    const Hierarchy subtree =
        parse_mountinfo("90 23 0:32 /lcloud /tmp/mem\\040bind rw - cgroup cgroup rw,memory\n")[0];
    CHECK(subtree.mountpoint == "/tmp/mem bind");
    CHECK(subtree.root == "/lcloud");
    CHECK(subtree.directory_of("/lcloud/web") == "/tmp/mem bind/web");
    CHECK(subtree.directory_of("/lcloud") == "/tmp/mem bind");
    CHECK(error_of([&] { subtree.directory_of("/lcloudy/web"); })
              .find("cgroup /lcloudy/web is outside the part of its hierarchy mounted at "
                    "/tmp/mem bind") != std::string::npos);

    const std::vector<Hierarchy> chosen = runtime_hierarchies(Layout::hybrid, all);
    CHECK(chosen.size() == 3); // cpu+cpuacct, memory, unified: not name=systemd
    CHECK(runtime_hierarchies(Layout::v1, all).size() == 2);
    CHECK(runtime_hierarchies(Layout::v2, all).size() == 1);
}

TEST_CASE("cgroups: this host's mounts have every v1 controller the runtime uses") {
    const std::vector<Hierarchy> chosen =
        runtime_hierarchies(Layout::hybrid, mounted_hierarchies());
    for (const char* controller :
         {"cpu", "cpuacct", "cpuset", "memory", "pids", "blkio", "devices", "freezer"}) {
        CAPTURE(controller);
        const Hierarchy* hierarchy = find(chosen, controller);
        REQUIRE(hierarchy);
        CHECK(hierarchy->mountpoint == std::string("/sys/fs/cgroup/") + controller);
    }
    REQUIRE(find(chosen, nullptr));
    CHECK(find(chosen, nullptr)->mountpoint == "/sys/fs/cgroup/unified");
    CHECK(chosen.size() == 9);
}

TEST_CASE("cgroups: /proc/self/cgroup lines and cgroupsPath resolution") {
    const std::vector<ProcCgroup> own = parse_proc_cgroup("9:name=systemd:/\n"
                                                          "4:memory:/process_api/abc\n"
                                                          "2:cpu,cpuacct:/user/1\n"
                                                          "0::/init.scope\n");
    REQUIRE(own.size() == 4);
    CHECK(own[2].controllers == std::vector<std::string>{"cpu", "cpuacct"});
    Hierarchy cpu;
    cpu.controllers = {"cpuacct", "cpu"};
    Hierarchy memory;
    memory.controllers = {"memory"};
    Hierarchy unified;
    unified.unified = true;
    Hierarchy pids;
    pids.mountpoint = "/sys/fs/cgroup/pids";
    pids.controllers = {"pids"};
    CHECK(own_cgroup(cpu, own) == "/user/1");
    CHECK(own_cgroup(memory, own) == "/process_api/abc");
    CHECK(own_cgroup(unified, own) == "/init.scope");
    CHECK(error_of([&] {
              own_cgroup(pids, own);
          }).find("no line for the hierarchy mounted at /sys/fs/cgroup/pids") != std::string::npos);

    CHECK(resolve_cgroup_path("/a/b/", "id", "/own") == "/a/b");
    CHECK(resolve_cgroup_path("//a//b", "id", "/own") == "/a/b");
    CHECK(resolve_cgroup_path("a/b", "id", "/own/x") == "/own/x/a/b");
    CHECK(resolve_cgroup_path("a", "id", "/") == "/a");
    CHECK(resolve_cgroup_path("", "web-1", "/own") == "/lcloud/web-1");
    CHECK(error_of([] { resolve_cgroup_path("/a/../b", "id", "/"); }) ==
          "cgroupsPath \"/a/../b\" contains \"..\": give a path without \".\" or \"..\" "
          "components");
    CHECK(error_of([] {
              resolve_cgroup_path("", "a/b", "/");
          }).find("container id \"a/b\" cannot name a cgroup") != std::string::npos);
    CHECK(error_of([] { resolve_cgroup_path("/", "id", "/"); }).find("names the root cgroup") !=
          std::string::npos);
}

TEST_CASE("cgroups: values converted as runc and crun convert them") {
    CHECK(shares_to_weight(2) == 1);
    CHECK(shares_to_weight(1024) == 39);
    CHECK(shares_to_weight(262144) == 10000);
    CHECK(blkio_to_io_weight(10) == 1);
    CHECK(blkio_to_io_weight(500) == 4950);
    CHECK(blkio_to_io_weight(1000) == 10000);

    CHECK(v2_swap_value(std::nullopt, 100) == std::nullopt);
    CHECK(v2_swap_value(std::nullopt, -1) == "max");
    CHECK(v2_swap_value(-1, 100) == "max");
    CHECK(v2_swap_value(300, 100) == "200");
    CHECK(v2_swap_value(100, 100) == "0");
    CHECK(error_of([] {
              v2_swap_value(50, 100);
          }).find("memory swap 50 is below the memory limit 100") != std::string::npos);
    CHECK(error_of([] { v2_swap_value(50, std::nullopt); }).find("without a memory limit") !=
          std::string::npos);

    CHECK(cpu_max_value(50000, 100000, "max 100000") == "50000 100000");
    CHECK(cpu_max_value(-1, 100000, "20000 100000") == "max 100000");
    CHECK(cpu_max_value(std::nullopt, 50000, "20000 100000") == "20000 50000");
    CHECK(cpu_max_value(30000, std::nullopt, "max 100000") == "30000");

    CHECK(device_rule_line(DeviceRule{true, "c", 1, 3, "rwm"}) == "c 1:3 rwm");
    CHECK(device_rule_line(DeviceRule{true, "b", std::nullopt, std::nullopt, "m"}) == "b *:* m");
    CHECK(device_rule_line(DeviceRule{true, "c", 136, std::nullopt, "rw"}) == "c 136:* rw");
    CHECK(device_rule_line(DeviceRule{false, "a", std::nullopt, std::nullopt, "rwm"}) == "a");
    CHECK(error_of([] {
              device_rule_line(DeviceRule{true, "x", 1, 3, "rwm"});
          }).find("device rule type \"x\"") != std::string::npos);
    CHECK(error_of([] {
              device_rule_line(DeviceRule{true, "c", 1, 3, "rwx"});
          }).find("access \"rwx\" must be made of r, w and m") != std::string::npos);
    CHECK(default_device_rules().size() == 11);
}

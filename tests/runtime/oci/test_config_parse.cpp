// What a valid config.json turns into, field by field.
#include "runtime/oci/config_json.hpp"
#include "runtime/oci/config_parse.hpp"
#include "support/temp_dir.hpp"

#include <doctest/doctest.h>
#include <filesystem>
#include <fstream>

namespace fs = std::filesystem;
using namespace lcloud::runtime::oci;
using Strings = std::vector<std::string>;

namespace {

// `runc spec` output, filled in with what a real bundle carries: resources, hooks, seccomp, user
// namespace mappings, devices. Also fields lcloud-runtime does not know, which are ignored.
constexpr const char* full_config = R"json({
  "ociVersion": "1.0.2-dev",
  "process": {
    "terminal": true,
    "consoleSize": {"height": 25, "width": 80},
    "user": {"uid": 1000, "gid": 1000, "umask": 18, "additionalGids": [5, 27]},
    "args": ["/usr/bin/app", "--port", "8080"],
    "env": ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "TERM=xterm",
            "EMPTY="],
    "cwd": "/srv/app",
    "capabilities": {
      "bounding": ["CAP_AUDIT_WRITE", "CAP_KILL", "CAP_NET_BIND_SERVICE"],
      "effective": ["CAP_AUDIT_WRITE", "CAP_KILL"],
      "inheritable": ["CAP_KILL"],
      "permitted": ["CAP_AUDIT_WRITE", "CAP_KILL", "CAP_NET_BIND_SERVICE"],
      "ambient": ["CAP_NET_BIND_SERVICE"]
    },
    "rlimits": [
      {"type": "RLIMIT_NOFILE", "hard": 1024, "soft": 1024},
      {"type": "RLIMIT_CORE", "hard": 18446744073709551615, "soft": 0}
    ],
    "noNewPrivileges": true,
    "oomScoreAdj": -500,
    "apparmorProfile": "lcloud-default",
    "selinuxLabel": "system_u:system_r:container_t:s0:c1,c2",
    "scheduler": {"policy": "SCHED_OTHER"},
    "ioPriority": {"class": "IOPRIO_CLASS_BE", "priority": 4}
  },
  "root": {"path": "rootfs", "readonly": true},
  "hostname": "node-1",
  "domainname": "lcloud.test",
  "mounts": [
    {"destination": "/proc", "type": "proc", "source": "proc"},
    {"destination": "/dev", "type": "tmpfs", "source": "tmpfs",
     "options": ["nosuid", "strictatime", "mode=755", "size=65536k"]},
    {"destination": "/data", "type": "bind", "source": "/var/lib/lcloud/volumes/data",
     "options": ["rbind", "rw"], "uidMappings": [], "gidMappings": []}
  ],
  "hooks": {
    "prestart": [{"path": "/usr/bin/netns-setup", "args": ["netns-setup", "--bridge", "lc0"],
                  "env": ["STAGE=prestart"], "timeout": 10}],
    "createRuntime": [{"path": "/usr/libexec/lcloud/create-runtime"}],
    "createContainer": [{"path": "/usr/libexec/lcloud/create-container"}],
    "startContainer": [{"path": "/bin/true"}],
    "poststart": [{"path": "/usr/bin/notify", "args": ["notify", "started"]}],
    "poststop": [{"path": "/usr/bin/cleanup", "timeout": 30}, {"path": "/usr/bin/log-stop"}]
  },
  "annotations": {"org.opencontainers.image.title": "app", "com.example.team": "ops"},
  "linux": {
    "uidMappings": [{"containerID": 0, "hostID": 100000, "size": 65536}],
    "gidMappings": [{"containerID": 0, "hostID": 200000, "size": 65536},
                    {"containerID": 65536, "hostID": 300000, "size": 1}],
    "sysctl": {"net.ipv4.ip_forward": "1", "kernel.shm_rmid_forced": "1"},
    "resources": {
      "devices": [
        {"allow": false, "access": "rwm"},
        {"allow": true, "type": "c", "major": 10, "minor": 229, "access": "rw"},
        {"allow": true, "type": "b", "major": 8, "access": "r"}
      ],
      "memory": {"limit": 536870912, "reservation": 268435456, "swap": 1073741824,
                 "kernel": -1, "swappiness": 60, "disableOOMKiller": false},
      "cpu": {"shares": 512, "quota": 50000, "period": 100000, "cpus": "0-1", "mems": "0",
              "realtimeRuntime": 0},
      "pids": {"limit": 256},
      "blockIO": {"weight": 500, "leafWeight": 300},
      "hugepageLimits": [],
      "unified": {"memory.high": "400M", "io.weight": "default 100"}
    },
    "cgroupsPath": "/lcloud/node-1",
    "namespaces": [
      {"type": "pid"},
      {"type": "network", "path": "/var/run/netns/lcloud"},
      {"type": "ipc"},
      {"type": "uts"},
      {"type": "mount"},
      {"type": "user"},
      {"type": "cgroup"},
      {"type": "time"}
    ],
    "devices": [
      {"path": "/dev/fuse", "type": "c", "major": 10, "minor": 229, "fileMode": 438, "uid": 0,
       "gid": 0},
      {"path": "/dev/sda", "type": "b", "major": 8, "minor": 0},
      {"path": "/dev/myfifo", "type": "p"}
    ],
    "seccomp": {
      "defaultAction": "SCMP_ACT_ERRNO",
      "defaultErrnoRet": 1,
      "architectures": ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86"],
      "flags": ["SECCOMP_FILTER_FLAG_LOG"],
      "listenerPath": "/run/seccomp-agent.sock",
      "syscalls": [
        {"names": ["read", "write", "exit_group"], "action": "SCMP_ACT_ALLOW"},
        {"names": ["personality"], "action": "SCMP_ACT_ALLOW",
         "args": [{"index": 0, "value": 8, "op": "SCMP_CMP_EQ"}]},
        {"names": ["clone"], "action": "SCMP_ACT_ALLOW",
         "args": [{"index": 0, "value": 2114060288, "valueTwo": 0, "op": "SCMP_CMP_MASKED_EQ"}]},
        {"names": ["clone3"], "action": "SCMP_ACT_ERRNO", "errnoRet": 38}
      ]
    },
    "rootfsPropagation": "rslave",
    "maskedPaths": ["/proc/kcore", "/sys/firmware"],
    "readonlyPaths": ["/proc/sys", "/proc/sysrq-trigger"],
    "mountLabel": "system_u:object_r:container_file_t:s0:c1,c2",
    "intelRdt": {"closID": "guaranteed_group"},
    "personality": {"domain": "LINUX"}
  },
  "vm": {"hypervisor": {"path": "/usr/bin/qemu"}},
  "x-lcloud-unknown": [1, 2, 3]
})json";

} // namespace

TEST_CASE("config.json: every field of a full config lands in Config") {
    const Config config = parse_config(full_config);
    CHECK(config.oci_version == "1.0.2-dev");
    CHECK(config.root.path == "rootfs");
    CHECK(config.root.readonly);
    CHECK(config.hostname == "node-1");
    CHECK(config.domainname == "lcloud.test");

    REQUIRE(config.process);
    const Process& process = *config.process;
    CHECK(process.terminal);
    REQUIRE(process.console_size);
    CHECK(process.console_size->height == 25);
    CHECK(process.console_size->width == 80);
    CHECK(process.user.uid == 1000);
    CHECK(process.user.gid == 1000);
    CHECK(process.user.umask == 18u);
    CHECK(process.user.additional_gids == std::vector<uint32_t>{5, 27});
    CHECK(process.args == Strings{"/usr/bin/app", "--port", "8080"});
    CHECK(process.env ==
          Strings{"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "TERM=xterm",
                  "EMPTY="});
    CHECK(process.cwd == "/srv/app");
    REQUIRE(process.capabilities);
    CHECK(process.capabilities->bounding ==
          Strings{"CAP_AUDIT_WRITE", "CAP_KILL", "CAP_NET_BIND_SERVICE"});
    CHECK(process.capabilities->effective == Strings{"CAP_AUDIT_WRITE", "CAP_KILL"});
    CHECK(process.capabilities->inheritable == Strings{"CAP_KILL"});
    CHECK(process.capabilities->permitted ==
          Strings{"CAP_AUDIT_WRITE", "CAP_KILL", "CAP_NET_BIND_SERVICE"});
    CHECK(process.capabilities->ambient == Strings{"CAP_NET_BIND_SERVICE"});
    REQUIRE(process.rlimits.size() == 2);
    CHECK(process.rlimits[0].type == "RLIMIT_NOFILE");
    CHECK(process.rlimits[0].hard == 1024);
    CHECK(process.rlimits[0].soft == 1024);
    CHECK(process.rlimits[1].type == "RLIMIT_CORE");
    CHECK(process.rlimits[1].hard == UINT64_MAX);
    CHECK(process.rlimits[1].soft == 0);
    CHECK(process.no_new_privileges);
    CHECK(process.oom_score_adj == -500);
    CHECK(process.apparmor_profile == "lcloud-default");
    CHECK(process.selinux_label == "system_u:system_r:container_t:s0:c1,c2");

    REQUIRE(config.mounts.size() == 3);
    CHECK(config.mounts[0].destination == "/proc");
    CHECK(config.mounts[0].type == "proc");
    CHECK(config.mounts[0].source == "proc");
    CHECK(config.mounts[0].options.empty());
    CHECK(config.mounts[1].options == Strings{"nosuid", "strictatime", "mode=755", "size=65536k"});
    CHECK(config.mounts[2].destination == "/data");
    CHECK(config.mounts[2].type == "bind");
    CHECK(config.mounts[2].source == "/var/lib/lcloud/volumes/data");
    CHECK(config.mounts[2].options == Strings{"rbind", "rw"});

    const Hooks& hooks = config.hooks;
    REQUIRE(hooks.prestart.size() == 1);
    CHECK(hooks.prestart[0].path == "/usr/bin/netns-setup");
    CHECK(hooks.prestart[0].args == Strings{"netns-setup", "--bridge", "lc0"});
    CHECK(hooks.prestart[0].env == Strings{"STAGE=prestart"});
    CHECK(hooks.prestart[0].timeout_seconds == 10);
    REQUIRE(hooks.create_runtime.size() == 1);
    CHECK(hooks.create_runtime[0].path == "/usr/libexec/lcloud/create-runtime");
    CHECK_FALSE(hooks.create_runtime[0].timeout_seconds);
    REQUIRE(hooks.create_container.size() == 1);
    CHECK(hooks.create_container[0].path == "/usr/libexec/lcloud/create-container");
    REQUIRE(hooks.start_container.size() == 1);
    CHECK(hooks.start_container[0].path == "/bin/true");
    REQUIRE(hooks.poststart.size() == 1);
    CHECK(hooks.poststart[0].args == Strings{"notify", "started"});
    REQUIRE(hooks.poststop.size() == 2);
    CHECK(hooks.poststop[0].timeout_seconds == 30);
    CHECK(hooks.poststop[1].path == "/usr/bin/log-stop");

    CHECK(config.annotations ==
          std::map<std::string, std::string>{{"org.opencontainers.image.title", "app"},
                                             {"com.example.team", "ops"}});

    const Linux& linux_config = config.linux;
    REQUIRE(linux_config.uid_mappings.size() == 1);
    CHECK(linux_config.uid_mappings[0].container_id == 0);
    CHECK(linux_config.uid_mappings[0].host_id == 100000);
    CHECK(linux_config.uid_mappings[0].size == 65536);
    REQUIRE(linux_config.gid_mappings.size() == 2);
    CHECK(linux_config.gid_mappings[1].container_id == 65536);
    CHECK(linux_config.gid_mappings[1].host_id == 300000);
    CHECK(linux_config.gid_mappings[1].size == 1);
    CHECK(linux_config.sysctl ==
          std::map<std::string, std::string>{{"net.ipv4.ip_forward", "1"},
                                             {"kernel.shm_rmid_forced", "1"}});
    CHECK(linux_config.cgroups_path == "/lcloud/node-1");

    REQUIRE(linux_config.namespaces.size() == 8);
    const NamespaceType order[] = {
        NamespaceType::pid,   NamespaceType::network, NamespaceType::ipc,    NamespaceType::uts,
        NamespaceType::mount, NamespaceType::user,    NamespaceType::cgroup, NamespaceType::time};
    for (size_t i = 0; i < 8; ++i)
        CHECK(linux_config.namespaces[i].type == order[i]);
    CHECK(linux_config.namespaces[1].path == "/var/run/netns/lcloud");
    CHECK(linux_config.namespaces[0].path.empty());
    CHECK(linux_config.has_namespace(NamespaceType::time));
    REQUIRE(linux_config.find_namespace(NamespaceType::network));
    CHECK(linux_config.find_namespace(NamespaceType::network)->path == "/var/run/netns/lcloud");

    REQUIRE(linux_config.devices.size() == 3);
    const Device& fuse = linux_config.devices[0];
    CHECK(fuse.path == "/dev/fuse");
    CHECK(fuse.type == 'c');
    CHECK(fuse.major == 10);
    CHECK(fuse.minor == 229);
    CHECK(fuse.file_mode == 0666u);
    CHECK(fuse.uid == 0u);
    CHECK(fuse.gid == 0u);
    CHECK(linux_config.devices[1].type == 'b');
    CHECK_FALSE(linux_config.devices[1].file_mode);
    CHECK(linux_config.devices[2].type == 'p');

    REQUIRE(linux_config.resources);
    const Resources& resources = *linux_config.resources;
    REQUIRE(resources.devices.size() == 3);
    CHECK_FALSE(resources.devices[0].allow);
    CHECK(resources.devices[0].type == "a");
    CHECK_FALSE(resources.devices[0].major);
    CHECK(resources.devices[0].access == "rwm");
    CHECK(resources.devices[1].allow);
    CHECK(resources.devices[1].type == "c");
    CHECK(resources.devices[1].major == 10);
    CHECK(resources.devices[1].minor == 229);
    CHECK(resources.devices[1].access == "rw");
    CHECK(resources.devices[2].type == "b");
    CHECK(resources.devices[2].major == 8);
    CHECK_FALSE(resources.devices[2].minor); // any minor
    REQUIRE(resources.memory);
    CHECK(resources.memory->limit == 536870912);
    CHECK(resources.memory->reservation == 268435456);
    CHECK(resources.memory->swap == 1073741824);
    CHECK(resources.memory->kernel == -1);
    CHECK(resources.memory->swappiness == 60u);
    CHECK(resources.memory->disable_oom_killer == false);
    REQUIRE(resources.cpu);
    CHECK(resources.cpu->shares == 512u);
    CHECK(resources.cpu->quota == 50000);
    CHECK(resources.cpu->period == 100000u);
    CHECK(resources.cpu->cpus == "0-1");
    CHECK(resources.cpu->mems == "0");
    CHECK(resources.pids_limit == 256);
    CHECK(resources.block_io_weight == 500);
    CHECK(resources.unified == std::map<std::string, std::string>{{"memory.high", "400M"},
                                                                  {"io.weight", "default 100"}});

    REQUIRE(linux_config.seccomp);
    const Seccomp& seccomp = *linux_config.seccomp;
    CHECK(seccomp.default_action == "SCMP_ACT_ERRNO");
    CHECK(seccomp.default_errno_ret == 1u);
    CHECK(seccomp.architectures == Strings{"SCMP_ARCH_X86_64", "SCMP_ARCH_X86"});
    CHECK(seccomp.flags == Strings{"SECCOMP_FILTER_FLAG_LOG"});
    REQUIRE(seccomp.syscalls.size() == 4);
    CHECK(seccomp.syscalls[0].names == Strings{"read", "write", "exit_group"});
    CHECK(seccomp.syscalls[0].action == "SCMP_ACT_ALLOW");
    CHECK_FALSE(seccomp.syscalls[0].errno_ret);
    CHECK(seccomp.syscalls[0].args.empty());
    REQUIRE(seccomp.syscalls[1].args.size() == 1);
    CHECK(seccomp.syscalls[1].args[0].index == 0);
    CHECK(seccomp.syscalls[1].args[0].value == 8);
    CHECK(seccomp.syscalls[1].args[0].value_two == 0);
    CHECK(seccomp.syscalls[1].args[0].op == "SCMP_CMP_EQ");
    REQUIRE(seccomp.syscalls[2].args.size() == 1);
    CHECK(seccomp.syscalls[2].args[0].value == 0x7E020000);
    CHECK(seccomp.syscalls[2].args[0].op == "SCMP_CMP_MASKED_EQ");
    CHECK(seccomp.syscalls[3].errno_ret == 38u);

    CHECK(linux_config.rootfs_propagation == "rslave");
    CHECK(linux_config.masked_paths == Strings{"/proc/kcore", "/sys/firmware"});
    CHECK(linux_config.readonly_paths == Strings{"/proc/sys", "/proc/sysrq-trigger"});
    CHECK(linux_config.mount_label == "system_u:object_r:container_file_t:s0:c1,c2");
}

TEST_CASE("config.json: a full config survives to_json and back") {
    const std::string once = to_json(parse_config(full_config)).dump();
    CHECK(to_json(parse_config(once)).dump() == once);
}

TEST_CASE("config.json: absent fields keep their defaults; null counts as absent") {
    const Config minimal = parse_config(R"({"ociVersion": "1.0.2"})");
    CHECK(minimal.root.path == "rootfs");
    CHECK_FALSE(minimal.root.readonly);
    CHECK_FALSE(minimal.process);
    CHECK(minimal.mounts.empty());
    CHECK(minimal.linux.namespaces.empty());
    CHECK_FALSE(minimal.linux.resources);
    CHECK_FALSE(minimal.linux.seccomp);
    CHECK_FALSE(minimal.linux.has_namespace(NamespaceType::pid));
    CHECK(minimal.linux.find_namespace(NamespaceType::pid) == nullptr);

    // Go's encoder writes null for unset slices and maps; Go's decoder reads it as absent.
    const Config nulls = parse_config(R"({
        "ociVersion": "1.0.2", "hostname": null, "mounts": null, "hooks": null,
        "annotations": null,
        "process": {"args": ["sh"], "cwd": "/", "env": null, "capabilities": null,
                    "user": {"uid": 0, "gid": 0, "additionalGids": null}},
        "linux": {"namespaces": null, "resources": null, "seccomp": null, "sysctl": null}})");
    REQUIRE(nulls.process);
    CHECK(nulls.process->env.empty());
    CHECK_FALSE(nulls.process->capabilities);
    CHECK(nulls.hostname.empty());
    CHECK_FALSE(nulls.linux.resources);
    CHECK_FALSE(nulls.linux.seccomp);
}

TEST_CASE("config.json: unknown fields are ignored at every level") {
    const Config config = parse_config(R"({
        "ociVersion": "1.1.0", "future": {"a": [1, 2]}, "windows": {"layerFolders": ["C:\\x"]},
        "root": {"path": "/var/lib/rootfs", "mode": "overlay"},
        "process": {"args": ["sh"], "cwd": "/", "user": {"uid": 1, "username": "daemon"},
                    "execCPUAffinity": {"initial": "0"}},
        "mounts": [{"destination": "/tmp", "type": "tmpfs", "idmap": true}],
        "linux": {"namespaces": [{"type": "pid", "flags": 3}], "intelRdt": {},
                  "resources": {"network": {"classID": 1}, "rdma": {}},
                  "seccomp": {"defaultAction": "SCMP_ACT_ALLOW", "listenerMetadata": "x"}}})");
    CHECK(config.oci_version == "1.1.0");
    CHECK(config.root.path == "/var/lib/rootfs");
    CHECK(config.process->user.uid == 1);
    REQUIRE(config.mounts.size() == 1);
    CHECK(config.mounts[0].destination == "/tmp");
    CHECK(config.linux.has_namespace(NamespaceType::pid));
    CHECK(config.linux.seccomp->default_action == "SCMP_ACT_ALLOW");
}

TEST_CASE("config.json: to_json writes only what is set, in the spec's order") {
    CHECK(to_json(parse_config(R"({"ociVersion": "1.0.2"})")).dump() ==
          R"({"ociVersion":"1.0.2","root":{"path":"rootfs"}})");
    CHECK(to_json(parse_config(R"({"ociVersion": "1.0.2", "hostname": "h",
                                   "root": {"path": "r", "readonly": true},
                                   "process": {"cwd": "/", "args": ["sh"]},
                                   "linux": {"resources": {}}})"))
              .dump() ==
          R"({"ociVersion":"1.0.2","process":{"terminal":false,"user":{"uid":0,"gid":0},)"
          R"("args":["sh"],"cwd":"/"},"root":{"path":"r","readonly":true},"hostname":"h",)"
          R"("linux":{"resources":{}}})");
}

TEST_CASE("load_config reads BUNDLE/config.json and names it in every message") {
    lcloud::test::TempDir bundle;
    const fs::path file = bundle.path() / "config.json";
    CHECK_THROWS_WITH_AS(load_config(bundle.path()),
                         (file.string() + ": no such file; a bundle directory holds the "
                                          "container's config.json (write one with "
                                          "'lcloud-runtime spec')")
                             .c_str(),
                         ConfigError);

    std::ofstream(file) << R"({"ociVersion": "1.0.2", "process": {"args": [], "cwd": "/"}})";
    CHECK_THROWS_WITH_AS(load_config(bundle.path()),
                         (file.string() + ": process.args: must not be empty").c_str(),
                         ConfigError);

    std::ofstream(file) << full_config;
    CHECK(load_config(bundle.path()).hostname == "node-1");

    fs::remove(file);
    fs::create_directory(file);
    CHECK_THROWS_WITH_AS(load_config(bundle.path()),
                         (file.string() + ": cannot read: Is a directory").c_str(), ConfigError);
}

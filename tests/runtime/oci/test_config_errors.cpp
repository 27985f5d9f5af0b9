// What a wrong config.json is told: the file, the JSON path of the field, what is wrong and what
// would be right, on one line.
#include "runtime/oci/config_parse.hpp"

#include <doctest/doctest.h>
#include <string>

using namespace lcloud::runtime::oci;

namespace {

// The message of the ConfigError that parsing `text` throws, or "(no error)".
std::string config_error(std::string_view text) {
    try {
        parse_config(text);
    } catch (const ConfigError& error) {
        return error.what();
    }
    return "(no error)";
}

// A valid config with `process` and `linux` members replaced by the given JSON.
std::string with_process(const std::string& process_members) {
    return R"({"ociVersion": "1.0.2", "process": {"args": ["sh"], "cwd": "/", )" + process_members +
           "}}";
}

std::string with_linux(const std::string& linux_json) {
    return R"({"ociVersion": "1.0.2", "linux": )" + linux_json + "}";
}

struct Case {
    const char* name;
    std::string config;
    const char* message;
};

} // namespace

TEST_CASE("config.json: each malformed field is named, with what is expected") {
    const Case cases[] = {
        {"uid is not a number", with_process(R"("user": {"uid": "abc"})"),
         R"(config.json: process.user.uid: expected a non-negative integer, got "abc")"},
        {"uid does not fit 32 bits", with_process(R"("user": {"uid": 4294967296})"),
         "config.json: process.user.uid: expected a non-negative integer up to 4294967295, got "
         "4294967296"},
        {"gid is negative", with_process(R"("user": {"gid": -1})"),
         "config.json: process.user.gid: expected a non-negative integer, got -1"},
        {"unknown namespace type",
         with_linux(R"({"namespaces": [{"type": "pid"}, {"type": "network"}, {"type": "pdi"}]})"),
         R"(config.json: linux.namespaces[2].type: unknown namespace type "pdi"; expected one of )"
         "pid, network, mount, ipc, uts, user, cgroup, time"},
        {"namespace listed twice",
         with_linux(R"({"namespaces": [{"type": "pid"}, {"type": "ipc"}, {"type": "pid"}]})"),
         R"(config.json: linux.namespaces[2].type: namespace type "pid" is listed twice (first )"
         "at linux.namespaces[0]); keep one"},
        {"namespace path is relative",
         with_linux(R"({"namespaces": [{"type": "network", "path": "netns/x"}]})"),
         R"(config.json: linux.namespaces[0].path: must be an absolute path, got "netns/x")"},
        {"args empty", R"({"ociVersion": "1.0.2", "process": {"args": [], "cwd": "/"}})",
         "config.json: process.args: must not be empty"},
        {"args missing", R"({"ociVersion": "1.0.2", "process": {"cwd": "/"}})",
         R"(config.json: process.args: is missing; expected the program and its arguments, )"
         R"(such as ["sh"])"},
        {"args holds a number", R"({"ociVersion": "1.0.2", "process": {"args": ["sh", 1]}})",
         "config.json: process.args[1]: expected a string, got 1"},
        {"cwd relative", R"({"ociVersion": "1.0.2", "process": {"args": ["sh"], "cwd": "app"}})",
         R"(config.json: process.cwd: must be an absolute path, got "app")"},
        {"cwd missing", R"({"ociVersion": "1.0.2", "process": {"args": ["sh"]}})",
         R"(config.json: process.cwd: is missing; expected an absolute path such as "/")"},
        {"mount destination relative",
         R"({"ociVersion": "1.0.2", "mounts": [{"destination": "/proc"},
                                               {"destination": "proc", "type": "proc"}]})",
         R"(config.json: mounts[1].destination: must be an absolute path, got "proc")"},
        {"mount destination missing", R"({"ociVersion": "1.0.2", "mounts": [{"type": "tmpfs"}]})",
         R"(config.json: mounts[0].destination: is missing; expected an absolute path in the )"
         R"(container, such as "/data")"},
        {"mounts is an object", R"({"ociVersion": "1.0.2", "mounts": {"destination": "/x"}})",
         "config.json: mounts: expected an array, got an object"},
        {"ociVersion missing", R"({"process": {"args": ["sh"], "cwd": "/"}})",
         R"(config.json: ociVersion: is missing; expected the spec's version, such as "1.0.2")"},
        {"ociVersion 2", R"({"ociVersion": "2.0.0"})",
         R"(config.json: ociVersion: unsupported version "2.0.0"; lcloud-runtime implements )"
         R"(version 1 of the spec, such as "1.0.2")"},
        {"root without path", R"({"ociVersion": "1.0.2", "root": {"readonly": true}})",
         R"(config.json: root.path: is missing; expected the root filesystem's directory, such )"
         R"(as "rootfs")"},
        {"readonly is a string",
         R"({"ociVersion": "1.0.2", "root": {"path": "r", "readonly": "yes"}})",
         R"(config.json: root.readonly: expected true or false, got "yes")"},
        {"hook path relative",
         R"({"ociVersion": "1.0.2", "hooks": {"poststop": [{"path": "/bin/true"},
                                                           {"path": "cleanup.sh"}]}})",
         R"(config.json: hooks.poststop[1].path: must be an absolute path, got "cleanup.sh")"},
        {"hook timeout zero",
         R"({"ociVersion": "1.0.2", "hooks": {"prestart": [{"path": "/x", "timeout": 0}]}})",
         "config.json: hooks.prestart[0].timeout: must be a positive number of seconds, got 0"},
        {"device type", with_linux(R"({"devices": [{"path": "/dev/x", "type": "x"}]})"),
         R"(config.json: linux.devices[0].type: unknown device type "x"; expected one of c, b, )"
         "u, p"},
        {"device without major",
         with_linux(R"({"devices": [{"path": "/dev/fuse", "type": "c", "minor": 229}]})"),
         "config.json: linux.devices[0].major: is missing; expected a number; a c device needs "
         "major and minor numbers"},
        {"id mapping size zero",
         with_linux(R"({"uidMappings": [{"containerID": 0, "hostID": 1000, "size": 0}]})"),
         "config.json: linux.uidMappings[0].size: must be greater than 0"},
        {"id mapping without hostID",
         with_linux(R"({"gidMappings": [{"containerID": 0, "size": 1}]})"),
         "config.json: linux.gidMappings[0].hostID: is missing; expected a non-negative integer"},
        {"env without =", with_process(R"("env": ["PATH=/bin", "DEBUG"])"),
         R"(config.json: process.env[1]: expected KEY=value, got "DEBUG")"},
        {"terminal is a string", with_process(R"("terminal": "yes")"),
         R"(config.json: process.terminal: expected true or false, got "yes")"},
        {"oomScoreAdj out of range", with_process(R"("oomScoreAdj": 1001)"),
         "config.json: process.oomScoreAdj: expected an integer from -1000 to 1000, got 1001"},
        {"capability name", with_process(R"("capabilities": {"bounding": ["chown"]})"),
         R"(config.json: process.capabilities.bounding[0]: expected a capability name such as )"
         R"("CAP_CHOWN", got "chown")"},
        {"unknown rlimit",
         with_process(R"("rlimits": [{"type": "RLIMIT_FILES", "hard": 1, "soft": 1}])"),
         R"(config.json: process.rlimits[0].type: unknown rlimit type "RLIMIT_FILES"; expected )"
         "one of RLIMIT_AS, RLIMIT_CORE, RLIMIT_CPU, RLIMIT_DATA, RLIMIT_FSIZE, RLIMIT_LOCKS, "
         "RLIMIT_MEMLOCK, RLIMIT_MSGQUEUE, RLIMIT_NICE, RLIMIT_NOFILE, RLIMIT_NPROC, RLIMIT_RSS, "
         "RLIMIT_RTPRIO, RLIMIT_RTTIME, RLIMIT_SIGPENDING, RLIMIT_STACK"},
        {"rlimit twice",
         with_process(R"("rlimits": [{"type": "RLIMIT_NOFILE", "hard": 1, "soft": 1},
                                                    {"type": "RLIMIT_NOFILE", "hard": 2, "soft": 2}])"),
         "config.json: process.rlimits[1].type: RLIMIT_NOFILE is listed twice (first at "
         "process.rlimits[0]); keep one"},
        {"rlimit soft above hard",
         with_process(R"("rlimits": [{"type": "RLIMIT_NOFILE", "hard": 1024, "soft": 4096}])"),
         "config.json: process.rlimits[0]: soft limit 4096 is above hard limit 1024; setrlimit "
         "would refuse it"},
        {"annotation value", R"({"ociVersion": "1.0.2", "annotations": {"com.example.n": 1}})",
         R"(config.json: annotations["com.example.n"]: expected a string, got 1)"},
        {"device rule access",
         with_linux(R"({"resources": {"devices": [{"allow": true, "access": "rx"}]}})"),
         R"(config.json: linux.resources.devices[0].access: expected a combination of r, w and )"
         R"(m, such as "rwm", got "rx")"},
        {"device rule without allow",
         with_linux(R"({"resources": {"devices": [{"access": "r"}]}})"),
         "config.json: linux.resources.devices[0].allow: is missing; expected true or false"},
        {"pids without limit", with_linux(R"({"resources": {"pids": {}}})"),
         "config.json: linux.resources.pids.limit: is missing; expected a number of processes, "
         "or -1 for no limit"},
        {"memory limit is a string", with_linux(R"({"resources": {"memory": {"limit": "512M"}}})"),
         R"(config.json: linux.resources.memory.limit: expected an integer, got "512M")"},
        {"seccomp without defaultAction", with_linux(R"({"seccomp": {"syscalls": []}})"),
         R"(config.json: linux.seccomp.defaultAction: is missing; expected an action such as )"
         R"("SCMP_ACT_ERRNO")"},
        {"seccomp action", with_linux(R"({"seccomp": {"defaultAction": "SCMP_ACT_ALLOW",
                        "syscalls": [{"names": ["mount"], "action": "SCMP_ACT_DENY"}]}})"),
         R"(config.json: linux.seccomp.syscalls[0].action: unknown seccomp action )"
         R"("SCMP_ACT_DENY"; expected one of SCMP_ACT_KILL, SCMP_ACT_KILL_PROCESS, )"
         "SCMP_ACT_KILL_THREAD, SCMP_ACT_TRAP, SCMP_ACT_ERRNO, SCMP_ACT_TRACE, SCMP_ACT_ALLOW, "
         "SCMP_ACT_LOG, SCMP_ACT_NOTIFY"},
        {"seccomp argument index",
         with_linux(R"({"seccomp": {"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [
                        {"names": ["clone"], "action": "SCMP_ACT_ERRNO",
                         "args": [{"index": 6, "value": 1, "op": "SCMP_CMP_EQ"}]}]}})"),
         "config.json: linux.seccomp.syscalls[0].args[0].index: expected a non-negative integer "
         "up to 5, got 6"},
        {"seccomp operator",
         with_linux(R"({"seccomp": {"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [
                        {"names": ["clone"], "action": "SCMP_ACT_ERRNO",
                         "args": [{"index": 0, "value": 1, "op": "SCMP_CMP_MASKED_NE"}]}]}})"),
         R"(config.json: linux.seccomp.syscalls[0].args[0].op: unknown seccomp operator )"
         R"("SCMP_CMP_MASKED_NE"; expected one of SCMP_CMP_NE, SCMP_CMP_LT, SCMP_CMP_LE, )"
         "SCMP_CMP_EQ, SCMP_CMP_GE, SCMP_CMP_GT, SCMP_CMP_MASKED_EQ"},
        {"seccomp rule without names", with_linux(R"({"seccomp": {"defaultAction": "SCMP_ACT_ALLOW",
                        "syscalls": [{"names": [], "action": "SCMP_ACT_ERRNO"}]}})"),
         "config.json: linux.seccomp.syscalls[0].names: must not be empty"},
        {"rootfs propagation", with_linux(R"({"rootfsPropagation": "privat"})"),
         R"(config.json: linux.rootfsPropagation: unknown propagation "privat"; expected one of )"
         "private, rprivate, slave, rslave, shared, rshared, unbindable, runbindable"},
        {"masked path relative", with_linux(R"({"maskedPaths": ["/proc/kcore", "proc/keys"]})"),
         R"(config.json: linux.maskedPaths[1]: must be an absolute path, got "proc/keys")"},
        {"sysctl value", with_linux(R"({"sysctl": {"net.ipv4.ip_forward": 1}})"),
         R"(config.json: linux.sysctl["net.ipv4.ip_forward"]: expected a string, got 1)"},
        {"linux is a list", with_linux("[]"),
         "config.json: linux: expected an object, got an array"},
        {"hostname too long",
         R"({"ociVersion": "1.0.2", "hostname": ")" + std::string(65, 'h') + R"("})",
         "config.json: hostname: is 65 bytes long; a host name has at most 64"},
        {"top level is an array", "[]",
         "config.json: expected a JSON object at the top level, got an array"},
        {"empty file", " \n",
         R"(config.json: the file is empty; expected a JSON object such as {"ociVersion": )"
         R"("1.0.2", ...})"},
    };
    for (const auto& c : cases) {
        CAPTURE(c.name);
        CHECK(config_error(c.config) == c.message);
    }
}

TEST_CASE("config.json: a long value is shortened in the message") {
    const std::string long_value(100, 'x');
    CHECK(config_error(with_process(R"("cwd": ")" + long_value + R"(")")) ==
          "config.json: process.cwd: must be an absolute path, got \"" + std::string(60, 'x') +
              "...\"");
}

TEST_CASE("config.json: the message begins with the given file name") {
    CHECK_THROWS_WITH_AS(parse_config(R"({"ociVersion": 1})", "/run/b/config.json"),
                         "/run/b/config.json: ociVersion: expected a string, got 1", ConfigError);
}

TEST_CASE("config.json: invalid JSON is reported at its line and column") {
    // A stray word: nlohmann reports the byte after it; we point at its start.
    CHECK(config_error("{\n  \"ociVersion\": \"1.0.2\",\n    f\n}") ==
          "config.json: line 3, column 5: invalid JSON: syntax error while parsing object key - "
          "invalid literal; expected string literal");
    CHECK(config_error(R"({"ociVersion": "1.0.2",})") ==
          "config.json: line 1, column 24: invalid JSON: syntax error while parsing object key - "
          "unexpected '}'; expected string literal");
    CHECK(config_error("{\"ociVersion\": \"1.0.2\",\n \"root\": {\"readonly\": tru}}") ==
          "config.json: line 2, column 23: invalid JSON: syntax error while parsing value - "
          "invalid literal");
    CHECK(config_error("{\"ociVersion\": \"1.0.2\"\n \"root\": {}}") ==
          "config.json: line 2, column 2: invalid JSON: syntax error while parsing object - "
          "unexpected string literal; expected '}'");
    CHECK(config_error("{\"ociVersion\": \"1.0.2\",\n\"process\": {\n") ==
          "config.json: line 3, column 1: invalid JSON: syntax error while parsing object key - "
          "unexpected end of input; expected string literal");
    // Inside a string, the offending character itself.
    CHECK(config_error("{\"hostname\": \"a\tb\"}") ==
          "config.json: line 1, column 16: invalid JSON: syntax error while parsing value - "
          "invalid string: control character U+0009 (HT) must be escaped to \\u0009 or \\t");
    // Columns count characters, not bytes: "é" is one column.
    CHECK(config_error("{\"hostname\": \"\xc3\xa9\", x}") ==
          "config.json: line 1, column 19: invalid JSON: syntax error while parsing object key - "
          "invalid literal; expected string literal");
    CHECK(config_error("{\"ociVersion\": \"1.0.2\", \"x\": 1e400}") ==
          "config.json: line 1, column 30: invalid JSON: number overflow parsing '1e400'");
    CHECK(config_error("{\"ociVersion\": \"1.0.2\"} trailing") ==
          "config.json: line 1, column 25: invalid JSON: syntax error while parsing value - "
          "invalid literal; expected end of input");
}

#include "runtime/security/cap_tools.hpp"
#include "runtime/security/capabilities.hpp"
#include "runtime/security/in_child.hpp"
#include "runtime/security/seccomp.hpp"

#include <doctest/doctest.h>

#include <cerrno>
#include <csignal>
#include <sched.h>
#include <string>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

namespace oci = lcloud::runtime::oci;
namespace security = lcloud::runtime::security;
using lcloud::test::change_own_caps;
using lcloud::test::read_text_file;
using lcloud::test::run_in_child;
using lcloud::test::status_field;
using lcloud::test::write_line;

namespace {

constexpr auto missing_path = "/lcloud-test-no-such-directory";

oci::SeccompSyscall rule(std::vector<std::string> names, std::string action,
                         std::optional<uint32_t> errno_ret = std::nullopt,
                         std::vector<oci::SeccompArg> args = {}) {
    oci::SeccompSyscall syscall;
    syscall.names = std::move(names);
    syscall.action = std::move(action);
    syscall.errno_ret = errno_ret;
    syscall.args = std::move(args);
    return syscall;
}

oci::SeccompArg arg(unsigned index, std::string op, uint64_t value, uint64_t value_two = 0) {
    oci::SeccompArg comparison;
    comparison.index = index;
    comparison.op = std::move(op);
    comparison.value = value;
    comparison.value_two = value_two;
    return comparison;
}

oci::Seccomp allow_except(std::vector<oci::SeccompSyscall> syscalls) {
    oci::Seccomp profile;
    profile.default_action = "SCMP_ACT_ALLOW";
    profile.syscalls = std::move(syscalls);
    return profile;
}

// "ok" or "-1 <errno name>" for a raw syscall's result.
std::string outcome(long result) {
    if (result >= 0) return "ok";
    const int error = errno;
    return std::string("-1 ") + (error == EPERM    ? "EPERM"
                                 : error == ENOSYS ? "ENOSYS"
                                 : error == ENOENT ? "ENOENT"
                                 : error == EINVAL ? "EINVAL"
                                 : error == ESRCH  ? "ESRCH"
                                                   : std::to_string(error));
}

std::string try_mount() {
    return outcome(::mount("none", missing_path, "tmpfs", 0, nullptr));
}

// A child about to die of SIGSYS must leave no core file behind.
void no_core_dumps() {
    const struct rlimit none {};
    ::setrlimit(RLIMIT_CORE, &none);
    ::prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
}

} // namespace

TEST_CASE("apply_seccomp denies mount with EPERM and umount2 with errnoRet 38") {
    const auto result = run_in_child([](int fd) {
        // Contain a mount that a broken filter would let through.
        if (::unshare(CLONE_NEWNS) != 0 ||
            ::mount(nullptr, "/", nullptr, MS_REC | MS_PRIVATE, nullptr) != 0)
            throw std::runtime_error("cannot make a private mount namespace");
        write_line(fd, "before: " + try_mount());
        security::apply_seccomp(allow_except(
            {rule({"mount"}, "SCMP_ACT_ERRNO"), rule({"umount2"}, "SCMP_ACT_ERRNO", 38)}));
        write_line(fd, "mount: " + try_mount());
        write_line(fd, "umount2: " + outcome(::umount2(missing_path, 0)));
        write_line(fd, "getpid: " + std::string(::syscall(SYS_getpid) == ::getpid() ? "ok" : "?"));
        const auto status = read_text_file("/proc/self/status");
        write_line(fd, "Seccomp: " + status_field(status, "Seccomp"));
        write_line(fd, "NoNewPrivs: " + status_field(status, "NoNewPrivs"));
        return 0;
    });
    REQUIRE_MESSAGE(result.exited_with(0), result.describe());
    CHECK(result.output == "before: -1 ENOENT\n"
                           "mount: -1 EPERM\n"
                           "umount2: -1 ENOSYS\n"
                           "getpid: ok\n"
                           "Seccomp: 2\n"
                           "NoNewPrivs: 0\n");
}

TEST_CASE("apply_seccomp compares arguments") {
    const auto result = run_in_child([](int fd) {
        security::apply_seccomp(allow_except({
            rule({"personality"}, "SCMP_ACT_ERRNO", std::nullopt,
                 {arg(0, "SCMP_CMP_EQ", 0xffffffff)}),
            rule({"clone"}, "SCMP_ACT_ERRNO", std::nullopt,
                 {arg(0, "SCMP_CMP_MASKED_EQ", CLONE_NEWUSER, CLONE_NEWUSER)}),
            // Two arguments of one rule: both must match.
            rule({"getpriority"}, "SCMP_ACT_ERRNO", 38,
                 {arg(0, "SCMP_CMP_EQ", PRIO_PROCESS), arg(1, "SCMP_CMP_GE", 0x7ffffff0)}),
            // One argument twice: either matches.
            rule({"getpgid"}, "SCMP_ACT_ERRNO", 38,
                 {arg(0, "SCMP_CMP_EQ", 0x7ffffffe), arg(0, "SCMP_CMP_EQ", 0x7ffffffd)}),
        }));
        write_line(fd, "personality query: " + outcome(::syscall(SYS_personality, 0xffffffffUL)));
        write_line(fd, "personality linux: " + outcome(::syscall(SYS_personality, 0UL)));

        const long clone_result = ::syscall(SYS_clone, CLONE_NEWUSER | SIGCHLD, 0, 0, 0, 0);
        if (clone_result == 0) ::_exit(0); // the filter failed; this is a stray copy
        if (clone_result > 0) ::waitpid(static_cast<pid_t>(clone_result), nullptr, 0);
        write_line(fd, "clone(CLONE_NEWUSER): " + outcome(clone_result));
        const pid_t forked = ::fork();
        if (forked == 0) ::_exit(7);
        int status = 0;
        ::waitpid(forked, &status, 0);
        write_line(fd, "fork: " + std::string(WIFEXITED(status) && WEXITSTATUS(status) == 7
                                                  ? "ok"
                                                  : "failed"));

        write_line(fd, "getpriority both: " +
                           outcome(::syscall(SYS_getpriority, PRIO_PROCESS, 0x7ffffff0)));
        write_line(fd, "getpriority one: " +
                           outcome(::syscall(SYS_getpriority, PRIO_PGRP, 0x7ffffff0)));
        write_line(fd, "getpriority self: " + outcome(::syscall(SYS_getpriority, PRIO_PROCESS, 0)));
        write_line(fd, "getpgid first: " + outcome(::syscall(SYS_getpgid, 0x7ffffffe)));
        write_line(fd, "getpgid second: " + outcome(::syscall(SYS_getpgid, 0x7ffffffd)));
        write_line(fd, "getpgid other: " + outcome(::syscall(SYS_getpgid, 0x7ffffffc)));
        return 0;
    });
    REQUIRE_MESSAGE(result.exited_with(0), result.describe());
    CHECK(result.output == "personality query: -1 EPERM\n"
                           "personality linux: ok\n"
                           "clone(CLONE_NEWUSER): -1 EPERM\n"
                           "fork: ok\n"
                           "getpriority both: -1 ENOSYS\n"
                           "getpriority one: -1 ESRCH\n"
                           "getpriority self: ok\n"
                           "getpgid first: -1 ENOSYS\n"
                           "getpgid second: -1 ENOSYS\n"
                           "getpgid other: -1 ESRCH\n");
}

TEST_CASE("apply_seccomp with SCMP_ACT_KILL_PROCESS kills the process with SIGSYS") {
    const auto result = run_in_child([](int fd) {
        no_core_dumps();
        security::apply_seccomp(allow_except({rule({"getppid"}, "SCMP_ACT_KILL_PROCESS")}));
        ::syscall(SYS_getppid);
        write_line(fd, "survived getppid");
        return 0;
    });
    CHECK_MESSAGE(result.killed_by(SIGSYS), result.describe());
}

TEST_CASE("apply_seccomp with SCMP_ACT_TRAP signals and SCMP_ACT_LOG allows") {
    const auto result = run_in_child([](int fd) {
        no_core_dumps();
        ::signal(SIGSYS, [](int) { ::_exit(42); });
        security::apply_seccomp(
            allow_except({rule({"getppid"}, "SCMP_ACT_TRAP"), rule({"getuid"}, "SCMP_ACT_LOG")}));
        write_line(fd, "getuid: " + outcome(::syscall(SYS_getuid)));
        ::syscall(SYS_getppid);
        write_line(fd, "survived getppid");
        return 0;
    });
    CHECK_MESSAGE(result.exited_with(42), result.describe());
    CHECK(result.output == "getuid: ok\n");
}

TEST_CASE("apply_seccomp returns defaultErrnoRet for everything not allowed") {
    const auto result = run_in_child([](int fd) {
        oci::Seccomp profile;
        profile.default_action = "SCMP_ACT_ERRNO";
        profile.default_errno_ret = 38;
        profile.syscalls = {
            rule({"write", "exit_group", "exit", "brk", "mmap", "munmap"}, "SCMP_ACT_ALLOW")};
        security::apply_seccomp(profile);
        // Only write(2) from here on.
        write_line(fd, "getppid: " + outcome(::syscall(SYS_getppid)));
        return 0;
    });
    REQUIRE_MESSAGE(result.exited_with(0), result.describe());
    CHECK(result.output == "getppid: -1 ENOSYS\n");
}

TEST_CASE("apply_seccomp adds architectures and flags, and skips unknown syscalls") {
    const auto result = run_in_child([](int fd) {
        auto profile = allow_except({rule({"lcloud_no_such_syscall", "mount"}, "SCMP_ACT_ERRNO"),
                                     rule({"getppid"}, "SCMP_ACT_ALLOW")});
        profile.architectures = {"SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"};
        profile.flags = {"SECCOMP_FILTER_FLAG_TSYNC", "SECCOMP_FILTER_FLAG_LOG",
                         "SECCOMP_FILTER_FLAG_SPEC_ALLOW"};
        security::apply_seccomp(profile, [fd](std::string_view message) {
            write_line(fd, "skipped: " + std::string(message));
        });
        write_line(fd, "mount: " + try_mount());
        write_line(fd, "Seccomp: " + status_field(read_text_file("/proc/self/status"), "Seccomp"));
        return 0;
    });
    REQUIRE_MESSAGE(result.exited_with(0), result.describe());
    CHECK(result.output == "skipped: seccomp rule for syscall \"lcloud_no_such_syscall\" skipped: "
                           "libseccomp does not know it on this architecture\n"
                           "mount: -1 EPERM\n"
                           "Seccomp: 2\n");
}

TEST_CASE("apply_seccomp names what it cannot apply and loads nothing") {
    const auto result = run_in_child([](int fd) {
        const auto attempt = [fd](const oci::Seccomp& profile) {
            try {
                security::apply_seccomp(profile);
                write_line(fd, "no error");
            } catch (const security::InvalidSetting& error) {
                write_line(fd, error.what());
            }
        };
        attempt(allow_except({rule({"mount"}, "SCMP_ACT_NOTIFY")}));
        attempt(allow_except({rule({"mount"}, "SCMP_ACT_DENY")}));
        attempt(allow_except(
            {rule({"mount"}, "SCMP_ACT_ERRNO", std::nullopt, {arg(0, "SCMP_CMP_EQUAL", 1)})}));
        attempt(allow_except(
            {rule({"mount"}, "SCMP_ACT_ERRNO", std::nullopt, {arg(6, "SCMP_CMP_EQ", 1)})}));
        attempt(allow_except({rule({"mount"}, "SCMP_ACT_KILL_PROCESS", 1)}));
        auto bad_arch = allow_except({});
        bad_arch.architectures = {"SCMP_ARCH_X86_65"};
        attempt(bad_arch);
        auto bad_flag = allow_except({});
        bad_flag.flags = {"SECCOMP_FILTER_FLAG_FAST"};
        attempt(bad_flag);
        write_line(fd, "Seccomp: " + status_field(read_text_file("/proc/self/status"), "Seccomp"));
        return 0;
    });
    REQUIRE_MESSAGE(result.exited_with(0), result.describe());
    CHECK(result.output ==
          "seccomp syscalls[0] (mount): SCMP_ACT_NOTIFY is not supported by lcloud-runtime (it "
          "needs a seccomp agent behind listenerPath); use SCMP_ACT_ERRNO, SCMP_ACT_LOG or "
          "SCMP_ACT_KILL_PROCESS\n"
          "seccomp syscalls[0] (mount): unknown seccomp action \"SCMP_ACT_DENY\"; use one of "
          "SCMP_ACT_ALLOW, SCMP_ACT_ERRNO, SCMP_ACT_KILL, SCMP_ACT_KILL_THREAD, "
          "SCMP_ACT_KILL_PROCESS, SCMP_ACT_TRAP, SCMP_ACT_TRACE, SCMP_ACT_LOG, SCMP_ACT_NOTIFY\n"
          "seccomp syscalls[0] (mount): unknown seccomp operator \"SCMP_CMP_EQUAL\"; use one of "
          "SCMP_CMP_NE, SCMP_CMP_LT, SCMP_CMP_LE, SCMP_CMP_EQ, SCMP_CMP_GE, SCMP_CMP_GT, "
          "SCMP_CMP_MASKED_EQ\n"
          "seccomp syscalls[0] (mount): argument index 6 is out of range; a syscall has "
          "arguments 0 to 5\n"
          "seccomp syscalls[0] (mount): errnoRet 1 is set on SCMP_ACT_KILL_PROCESS, which "
          "returns no errno; only SCMP_ACT_ERRNO and SCMP_ACT_TRACE take errnoRet\n"
          "unknown seccomp architecture \"SCMP_ARCH_X86_65\"; did you mean SCMP_ARCH_X86_64?\n"
          "unknown seccomp flag \"SECCOMP_FILTER_FLAG_FAST\"; use SECCOMP_FILTER_FLAG_TSYNC, "
          "SECCOMP_FILTER_FLAG_LOG or SECCOMP_FILTER_FLAG_SPEC_ALLOW\n"
          "Seccomp: 0\n");
}

TEST_CASE("apply_seccomp needs no_new_privs or CAP_SYS_ADMIN and says so") {
    const auto result = run_in_child([](int fd) {
        change_own_caps({CAP_EFFECTIVE}, {CAP_SYS_ADMIN}, CAP_CLEAR);
        const auto profile = allow_except({rule({"mount"}, "SCMP_ACT_ERRNO")});
        try {
            security::apply_seccomp(profile);
            write_line(fd, "no error");
        } catch (const security::NotPermitted& error) {
            write_line(fd, error.what());
        }
        security::set_no_new_privileges();
        security::apply_seccomp(profile);
        write_line(fd, "Seccomp: " + status_field(read_text_file("/proc/self/status"), "Seccomp"));
        return 0;
    });
    REQUIRE_MESSAGE(result.exited_with(0), result.describe());
    CHECK(result.output == "cannot load the seccomp filter: loading needs no_new_privs or "
                           "CAP_SYS_ADMIN; set process.noNewPrivileges, or load the filter before "
                           "dropping CAP_SYS_ADMIN\n"
                           "Seccomp: 2\n");
}

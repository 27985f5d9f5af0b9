// compile_seccomp_cached: a compiled filter comes back from the cache unchanged, and works.
#include "runtime/security/in_child.hpp"
#include "runtime/security/seccomp.hpp"
#include "support/temp_dir.hpp"

#include <doctest/doctest.h>

#include <filesystem>
#include <fstream>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

namespace oci = lcloud::runtime::oci;
namespace security = lcloud::runtime::security;
namespace fs = std::filesystem;
using lcloud::test::run_in_child;
using lcloud::test::write_line;

namespace {

oci::Seccomp deny_getppid(uint32_t errno_ret) {
    oci::Seccomp profile;
    profile.default_action = "SCMP_ACT_ALLOW";
    profile.flags = {"SECCOMP_FILTER_FLAG_LOG"};
    oci::SeccompSyscall rule;
    rule.names = {"getppid"};
    rule.action = "SCMP_ACT_ERRNO";
    rule.errno_ret = errno_ret;
    profile.syscalls = {rule};
    return profile;
}

std::vector<fs::path> files_in(const fs::path& dir) {
    std::vector<fs::path> files;
    for (const auto& entry : fs::directory_iterator(dir))
        files.push_back(entry.path());
    return files;
}

} // namespace

TEST_CASE("compile_seccomp_cached stores the program once and gives it back unchanged") {
    lcloud::test::TempDir root;
    const fs::path cache = root.path() / "seccomp-cache";
    const auto fresh = security::compile_seccomp(deny_getppid(33));
    const auto first = security::compile_seccomp_cached(deny_getppid(33), cache);
    REQUIRE(files_in(cache).size() == 1);
    const auto second = security::compile_seccomp_cached(deny_getppid(33), cache);
    CHECK(first.bpf == fresh.bpf);
    CHECK(second.bpf == fresh.bpf);
    CHECK(second.flags == fresh.flags);
    CHECK(fresh.flags == SECCOMP_FILTER_FLAG_LOG);
    CHECK(fresh.bpf.size() % sizeof(sock_filter) == 0);

    // Another profile gets its own entry and its own program.
    const auto other = security::compile_seccomp_cached(deny_getppid(34), cache);
    CHECK(other.bpf != fresh.bpf);
    CHECK(files_in(cache).size() == 2);
}

TEST_CASE("compile_seccomp_cached ignores an entry that holds another profile, and rewrites it") {
    lcloud::test::TempDir root;
    const fs::path cache = root.path() / "seccomp-cache";
    security::compile_seccomp_cached(deny_getppid(33), cache);
    const fs::path entry = files_in(cache).front();
    std::ofstream(entry, std::ios::trunc) << "someone else's key" << '\0' << "garbage";
    const auto program = security::compile_seccomp_cached(deny_getppid(33), cache);
    CHECK(program.bpf == security::compile_seccomp(deny_getppid(33)).bpf);
    CHECK(security::compile_seccomp_cached(deny_getppid(33), cache).bpf == program.bpf);
}

TEST_CASE("a program from the cache filters as the profile says") {
    lcloud::test::TempDir root;
    const fs::path cache = root.path() / "seccomp-cache";
    security::compile_seccomp_cached(deny_getppid(33), cache); // fills the cache
    const auto result = run_in_child([&](int fd) {
        const auto program = security::compile_seccomp_cached(deny_getppid(33), cache);
        ::prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0);
        security::load_seccomp(program);
        const long parent = ::syscall(SYS_getppid);
        write_line(fd, parent == -1 && errno == 33 ? "getppid: EDOM" : "getppid: allowed");
        write_line(fd, ::syscall(SYS_getpid) > 0 ? "getpid: ok" : "getpid: denied");
        return 0;
    });
    REQUIRE_MESSAGE(result.exited_with(0), result.describe());
    CHECK(result.output == "getppid: EDOM\ngetpid: ok\n");
}

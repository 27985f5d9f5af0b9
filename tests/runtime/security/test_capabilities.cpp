#include "runtime/security/cap_tools.hpp"
#include "runtime/security/capabilities.hpp"
#include "runtime/security/in_child.hpp"

#include <doctest/doctest.h>

#include <fcntl.h>
#include <grp.h>
#include <sched.h>
#include <string>
#include <unistd.h>

namespace oci = lcloud::runtime::oci;
namespace security = lcloud::runtime::security;
using lcloud::test::blocks;
using lcloud::test::cap_mask;
using lcloud::test::change_own_caps;
using lcloud::test::read_text_file;
using lcloud::test::run_in_child;
using lcloud::test::status_field;
using lcloud::test::write_all;
using lcloud::test::write_line;

namespace {

constexpr auto next_block = "--next--";

oci::User make_user(uint32_t uid, uint32_t gid, std::vector<uint32_t> additional_gids = {}) {
    oci::User user;
    user.uid = uid;
    user.gid = gid;
    user.additional_gids = std::move(additional_gids);
    return user;
}

// Replaces the child with /bin/sh printing its own /proc/self/status: what the kernel gave the
// program after execve.
[[noreturn]] void exec_status_printer(int fd) {
    ::dup2(fd, STDOUT_FILENO);
    ::execl("/bin/sh", "sh", "-c",
            "while IFS= read -r line; do printf '%s\\n' \"$line\"; done < /proc/self/status",
            static_cast<char*>(nullptr));
    write_line(fd, "error: exec /bin/sh failed");
    ::_exit(103);
}

security::SkipReport report_to(int fd) {
    return [fd](std::string_view message) { write_line(fd, "skipped: " + std::string(message)); };
}

// change_user, then the status before and after an execve of /bin/sh, as blocks 0 and 1.
lcloud::test::ChildResult change_user_and_exec(const oci::User& user,
                                               const std::optional<oci::Capabilities>& caps) {
    return run_in_child([&](int fd) {
        security::change_user(user, caps, report_to(fd));
        write_line(fd, "KeepCaps:\t" + std::to_string(::prctl(PR_GET_KEEPCAPS, 0, 0, 0, 0)));
        write_all(fd, read_text_file("/proc/self/status"));
        write_line(fd, next_block);
        exec_status_printer(fd);
        return 0;
    });
}

void check_sets(const std::string& status, const std::string& inheritable,
                const std::string& permitted, const std::string& effective,
                const std::string& bounding, const std::string& ambient) {
    CHECK(status_field(status, "CapInh") == inheritable);
    CHECK(status_field(status, "CapPrm") == permitted);
    CHECK(status_field(status, "CapEff") == effective);
    CHECK(status_field(status, "CapBnd") == bounding);
    CHECK(status_field(status, "CapAmb") == ambient);
}

} // namespace

TEST_CASE("capability_from_name maps spec names and names the unknown one") {
    CHECK(security::capability_from_name("CAP_CHOWN") == CAP_CHOWN);
    CHECK(security::capability_from_name("CAP_NET_RAW") == CAP_NET_RAW);
    CHECK(security::capability_from_name("CAP_CHECKPOINT_RESTORE") == 40);
    CHECK_THROWS_WITH_AS(security::capability_from_name("CAP_NET_RAWW"),
                         "unknown capability \"CAP_NET_RAWW\"; did you mean CAP_NET_RAW?",
                         security::InvalidSetting);
    CHECK_THROWS_WITH_AS(security::capability_from_name("cap_net_raw"),
                         "unknown capability \"cap_net_raw\"; did you mean CAP_NET_RAW?",
                         security::InvalidSetting);
    CHECK_THROWS_WITH_AS(security::capability_from_name("12"),
                         doctest::Contains("unknown capability \"12\"; capabilities are named"),
                         security::InvalidSetting);
    CHECK(security::last_capability() ==
          std::stoi(read_text_file("/proc/sys/kernel/cap_last_cap")));
}

TEST_CASE("change_user sets ids, groups and exactly the configured sets; ambient survives exec") {
    oci::User user = make_user(1000, 1000, {10, 20});
    user.umask = 027;
    oci::Capabilities caps;
    caps.bounding = caps.permitted = caps.effective = {"CAP_CHOWN", "CAP_NET_BIND_SERVICE"};
    caps.inheritable = caps.ambient = {"CAP_NET_BIND_SERVICE"};
    const auto result = change_user_and_exec(user, caps);
    REQUIRE_MESSAGE(result.exited_with(0), result.describe());
    const auto parts = blocks(result.output);
    REQUIRE_MESSAGE(parts.size() == 2, result.describe());
    const auto& before = parts[0];
    const auto& after = parts[1];
    CHECK(result.output.find("skipped") == std::string::npos);

    const auto both = cap_mask({CAP_CHOWN, CAP_NET_BIND_SERVICE});
    const auto bind = cap_mask({CAP_NET_BIND_SERVICE});
    check_sets(before, bind, both, both, both, bind);
    CHECK(status_field(before, "Uid") == "1000\t1000\t1000\t1000");
    CHECK(status_field(before, "Gid") == "1000\t1000\t1000\t1000");
    CHECK(status_field(before, "Groups") == "10 20");
    CHECK(status_field(before, "Umask") == "0027");
    CHECK(status_field(before, "KeepCaps") == "0");

    // A non-root program keeps only what the ambient set carries across execve.
    CHECK(status_field(after, "Name") == "sh");
    check_sets(after, bind, bind, bind, both, bind);
    CHECK(status_field(after, "Uid") == "1000\t1000\t1000\t1000");
    CHECK(status_field(after, "Groups") == "10 20");
    CHECK(status_field(after, "NoNewPrivs") == "0");
}

TEST_CASE("change_user clears inheritable and ambient capabilities that are not configured") {
    const auto result = run_in_child([](int fd) {
        // What a runtime could wrongly pass on (the CVE-2022-29162 class).
        change_own_caps({CAP_INHERITABLE}, {CAP_CHOWN, CAP_NET_RAW, CAP_NET_BIND_SERVICE}, CAP_SET);
        if (::prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_RAISE, CAP_NET_RAW, 0, 0) != 0)
            throw std::runtime_error("raising ambient CAP_NET_RAW failed");
        write_all(fd, read_text_file("/proc/self/status"));
        write_line(fd, next_block);
        oci::Capabilities caps;
        caps.bounding = caps.permitted = caps.effective = {"CAP_CHOWN", "CAP_NET_BIND_SERVICE"};
        security::change_user(make_user(1000, 1000), caps, report_to(fd));
        write_all(fd, read_text_file("/proc/self/status"));
        write_line(fd, next_block);
        exec_status_printer(fd);
        return 0;
    });
    REQUIRE_MESSAGE(result.exited_with(0), result.describe());
    const auto parts = blocks(result.output);
    REQUIRE_MESSAGE(parts.size() == 3, result.describe());
    CHECK(status_field(parts[0], "CapInh") ==
          cap_mask({CAP_CHOWN, CAP_NET_RAW, CAP_NET_BIND_SERVICE}));
    CHECK(status_field(parts[0], "CapAmb") == cap_mask({CAP_NET_RAW}));

    const auto both = cap_mask({CAP_CHOWN, CAP_NET_BIND_SERVICE});
    const auto none = cap_mask({});
    check_sets(parts[1], none, both, both, both, none);
    check_sets(parts[2], none, none, none, both, none);
    CHECK(status_field(parts[1], "Groups") == "");
}

TEST_CASE("change_user without capabilities leaves every set empty, even for root after exec") {
    const auto result = change_user_and_exec(oci::User{}, std::nullopt);
    REQUIRE_MESSAGE(result.exited_with(0), result.describe());
    const auto parts = blocks(result.output);
    REQUIRE_MESSAGE(parts.size() == 2, result.describe());
    const auto none = cap_mask({});
    check_sets(parts[0], none, none, none, none, none);
    check_sets(parts[1], none, none, none, none, none);
    CHECK(status_field(parts[1], "Uid") == "0\t0\t0\t0");
}

TEST_CASE("root's program gets its bounding set after exec, not more") {
    oci::Capabilities caps;
    caps.bounding = {"CAP_CHOWN", "CAP_SETUID"};
    caps.permitted = caps.effective = {"CAP_CHOWN"};
    const auto result = change_user_and_exec(oci::User{}, caps);
    REQUIRE_MESSAGE(result.exited_with(0), result.describe());
    const auto parts = blocks(result.output);
    REQUIRE_MESSAGE(parts.size() == 2, result.describe());
    const auto none = cap_mask({});
    const auto chown = cap_mask({CAP_CHOWN});
    const auto bounding = cap_mask({CAP_CHOWN, CAP_SETUID});
    check_sets(parts[0], none, chown, chown, bounding, none);
    check_sets(parts[1], none, bounding, bounding, bounding, none);
}

TEST_CASE("change_user skips and reports capabilities this process cannot grant") {
    const auto result = run_in_child([](int fd) {
        // The machine's bounding set may or may not have it; make sure it does not.
        lcloud::test::lose_capability(CAP_SYS_RESOURCE);
        oci::Capabilities caps;
        caps.bounding = caps.permitted =
            caps.effective = {"CAP_CHOWN", "CAP_KILL", "CAP_SYS_RESOURCE"};
        caps.inheritable = {"CAP_CHOWN"};
        caps.ambient = {"CAP_CHOWN", "CAP_KILL"};
        security::change_user(oci::User{}, caps, report_to(fd));
        write_line(fd, next_block);
        write_all(fd, read_text_file("/proc/self/status"));
        return 0;
    });
    REQUIRE_MESSAGE(result.exited_with(0), result.describe());
    const auto parts = blocks(result.output);
    REQUIRE_MESSAGE(parts.size() == 2, result.describe());
    CHECK(parts[0] ==
          "skipped: CAP_SYS_RESOURCE skipped in the bounding set: this process's bounding set "
          "lacks it, and a bounding set can only shrink\n"
          "skipped: CAP_SYS_RESOURCE skipped in the permitted set: this process does not hold "
          "it, and capabilities can only be dropped\n"
          "skipped: CAP_SYS_RESOURCE skipped in the effective set: an effective capability must "
          "also be permitted\n"
          "skipped: CAP_KILL skipped in the ambient set: an ambient capability must also be "
          "permitted and inheritable\n");
    const auto granted = cap_mask({CAP_CHOWN, CAP_KILL});
    const auto chown = cap_mask({CAP_CHOWN});
    check_sets(parts[1], chown, granted, granted, granted, chown);
}

TEST_CASE("change_user refuses additionalGids where setgroups is denied, and works without") {
    const auto result = run_in_child([](int fd) {
        if (::unshare(CLONE_NEWUSER) != 0) throw std::runtime_error("unshare(CLONE_NEWUSER)");
        for (const auto& [path, text] :
             {std::pair{"/proc/self/setgroups", "deny"}, std::pair{"/proc/self/uid_map", "0 0 1"},
              std::pair{"/proc/self/gid_map", "0 0 1"}}) {
            const lcloud::Fd file(::open(path, O_WRONLY | O_CLOEXEC));
            if (!file || ::write(file.get(), text, strlen(text)) < 0)
                throw std::runtime_error(std::string("writing ") + path);
        }
        try {
            security::change_user(make_user(0, 0, {10}), std::nullopt);
            write_line(fd, "no error");
        } catch (const security::NotPermitted& error) {
            write_line(fd, error.what());
        }
        security::change_user(oci::User{}, std::nullopt);
        write_line(fd, "without gids: ok");
        return 0;
    });
    REQUIRE_MESSAGE(result.exited_with(0), result.describe());
    CHECK(result.output ==
          "cannot set additionalGids [10]: setgroups is denied in this user namespace "
          "(/proc/self/setgroups says deny); remove additionalGids, or have the gid mapping "
          "written by a process with CAP_SETGID in the parent user namespace\n"
          "without gids: ok\n");
}

TEST_CASE("change_user names an unknown capability and changes nothing") {
    const auto result = run_in_child([](int fd) {
        oci::Capabilities caps;
        caps.permitted = {"CAP_CHOWN", "CAP_NET_ADMN"};
        try {
            security::change_user(make_user(1000, 1000), caps);
        } catch (const security::InvalidSetting& error) {
            write_line(fd, error.what());
        }
        write_all(fd, read_text_file("/proc/self/status"));
        return 0;
    });
    REQUIRE_MESSAGE(result.exited_with(0), result.describe());
    CHECK(result.output.starts_with(
        "unknown capability \"CAP_NET_ADMN\"; did you mean CAP_NET_ADMIN?\n"));
    CHECK(status_field(result.output, "Uid") == "0\t0\t0\t0");
    CHECK(status_field(result.output, "CapBnd") ==
          status_field(read_text_file("/proc/self/status"), "CapBnd"));
}

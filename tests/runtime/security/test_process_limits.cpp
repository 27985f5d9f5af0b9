#include "runtime/security/cap_tools.hpp"
#include "runtime/security/capabilities.hpp"
#include "runtime/security/in_child.hpp"

#include <doctest/doctest.h>

#include <string>
#include <sys/resource.h>

namespace oci = lcloud::runtime::oci;
namespace security = lcloud::runtime::security;
using lcloud::test::change_own_caps;
using lcloud::test::read_text_file;
using lcloud::test::run_in_child;
using lcloud::test::status_field;
using lcloud::test::write_line;

namespace {

oci::Rlimit make_rlimit(std::string type, uint64_t soft, uint64_t hard) {
    oci::Rlimit limit;
    limit.type = std::move(type);
    limit.soft = soft;
    limit.hard = hard;
    return limit;
}

std::string limits_of(int resource) {
    struct rlimit limit {};
    if (::getrlimit(resource, &limit) != 0) return "getrlimit failed";
    return std::to_string(limit.rlim_cur) + " " + std::to_string(limit.rlim_max);
}

// Runs `apply` in a child and returns the message of the exception it throws, then the child's
// limits of `resource`, one per line.
template <typename Exception, typename Apply>
std::string child_error_and_limits(int resource, Apply apply) {
    const auto result = run_in_child([&](int fd) {
        try {
            apply();
            write_line(fd, "no error");
        } catch (const Exception& error) {
            write_line(fd, error.what());
        }
        write_line(fd, limits_of(resource));
        return 0;
    });
    REQUIRE_MESSAGE(result.exited_with(0), result.describe());
    return result.output;
}

} // namespace

TEST_CASE("apply_rlimits sets soft and hard limits") {
    const auto result = run_in_child([](int fd) {
        security::apply_rlimits(
            {make_rlimit("RLIMIT_NOFILE", 64, 128), make_rlimit("RLIMIT_CORE", 0, 0)});
        write_line(fd, limits_of(RLIMIT_NOFILE));
        write_line(fd, limits_of(RLIMIT_CORE));
        return 0;
    });
    REQUIRE_MESSAGE(result.exited_with(0), result.describe());
    CHECK(result.output == "64 128\n0 0\n");
}

TEST_CASE("apply_rlimits says a hard limit cannot be raised without CAP_SYS_RESOURCE") {
    const auto output = child_error_and_limits<security::NotPermitted>(RLIMIT_NOFILE, [] {
        // This machine lacks it anyway; elsewhere, make the kernel refuse the same way.
        change_own_caps({CAP_EFFECTIVE}, {CAP_SYS_RESOURCE}, CAP_CLEAR);
        security::apply_rlimits({make_rlimit("RLIMIT_NOFILE", 64, 128)});
        security::apply_rlimits({make_rlimit("RLIMIT_NOFILE", 64, 256)});
    });
    CHECK(output == "cannot raise the hard limit of RLIMIT_NOFILE from 128 to 256: raising a hard "
                    "limit above the current one needs CAP_SYS_RESOURCE, which this process "
                    "lacks; ask for a hard limit of at most 128\n"
                    "64 128\n");
}

TEST_CASE("apply_rlimits checks every entry before applying any") {
    const std::string unchanged = limits_of(RLIMIT_NOFILE);
    const auto unknown = child_error_and_limits<security::InvalidSetting>(RLIMIT_NOFILE, [] {
        security::apply_rlimits(
            {make_rlimit("RLIMIT_NOFILE", 64, 128), make_rlimit("RLIMIT_FOO", 1, 1)});
    });
    CHECK(unknown ==
          "unknown rlimit type \"RLIMIT_FOO\"; use one of RLIMIT_CPU, RLIMIT_FSIZE, RLIMIT_DATA, "
          "RLIMIT_STACK, RLIMIT_CORE, RLIMIT_RSS, RLIMIT_NPROC, RLIMIT_NOFILE, RLIMIT_MEMLOCK, "
          "RLIMIT_AS, RLIMIT_LOCKS, RLIMIT_SIGPENDING, RLIMIT_MSGQUEUE, RLIMIT_NICE, "
          "RLIMIT_RTPRIO, RLIMIT_RTTIME\n" +
              unchanged + "\n");

    const auto typo = child_error_and_limits<security::InvalidSetting>(
        RLIMIT_NOFILE, [] { security::apply_rlimits({make_rlimit("RLIMIT_NOFILES", 64, 128)}); });
    CHECK(typo == "unknown rlimit type \"RLIMIT_NOFILES\"; did you mean RLIMIT_NOFILE?\n" +
                      unchanged + "\n");

    const auto twice = child_error_and_limits<security::InvalidSetting>(RLIMIT_NOFILE, [] {
        security::apply_rlimits(
            {make_rlimit("RLIMIT_NOFILE", 64, 128), make_rlimit("RLIMIT_NOFILE", 1, 2)});
    });
    CHECK(twice ==
          "rlimit RLIMIT_NOFILE is listed twice; list each rlimit type once\n" + unchanged + "\n");

    const auto inverted = child_error_and_limits<security::InvalidSetting>(
        RLIMIT_NOFILE, [] { security::apply_rlimits({make_rlimit("RLIMIT_NOFILE", 256, 128)}); });
    CHECK(inverted == "rlimit RLIMIT_NOFILE: the soft limit 256 is above the hard limit 128; the "
                      "soft limit must be at most the hard limit\n" +
                          unchanged + "\n");
}

TEST_CASE("set_no_new_privileges shows in /proc/self/status") {
    const auto result = run_in_child([](int fd) {
        write_line(fd, status_field(read_text_file("/proc/self/status"), "NoNewPrivs"));
        security::set_no_new_privileges();
        write_line(fd, status_field(read_text_file("/proc/self/status"), "NoNewPrivs"));
        return 0;
    });
    REQUIRE_MESSAGE(result.exited_with(0), result.describe());
    CHECK(result.output == "0\n1\n");
}

TEST_CASE("set_oom_score_adj writes the score, and explains what it cannot write") {
    const auto result = run_in_child([](int fd) {
        security::set_oom_score_adj(500);
        write_line(fd, read_text_file("/proc/self/oom_score_adj"));
        for (const int score : {1001, -1000}) {
            if (score < 0) change_own_caps({CAP_EFFECTIVE}, {CAP_SYS_RESOURCE}, CAP_CLEAR);
            try {
                security::set_oom_score_adj(score);
                write_line(fd, "no error");
            } catch (const security::InvalidSetting& error) {
                write_line(fd, std::string("invalid: ") + error.what());
            } catch (const security::NotPermitted& error) {
                write_line(fd, std::string("not permitted: ") + error.what());
            }
        }
        return 0;
    });
    REQUIRE_MESSAGE(result.exited_with(0), result.describe());
    CHECK(result.output ==
          "500\n\n"
          "invalid: oomScoreAdj 1001 is out of range; use a value from -1000 to "
          "1000\n"
          "not permitted: cannot lower oomScoreAdj to -1000: that needs "
          "CAP_SYS_RESOURCE, which this process lacks; a value of at least 500 (the "
          "current one) is always allowed\n");
}

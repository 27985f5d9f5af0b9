#include "common/strings.hpp"
#include "common/units.hpp"
#include "support/invalid_message.hpp"

#include <doctest/doctest.h>

using namespace lcloud;

using test::invalid_message;

TEST_CASE("sizes: a plain number is MiB, units are binary") {
    CHECK(parse_size("512") == 512 * MiB);
    CHECK(parse_size("2GiB") == 2 * GiB);
    CHECK(parse_size("2G") == 2 * GiB);
    CHECK(parse_size("256m") == 256 * MiB);
    CHECK(parse_size("1024KiB") == MiB);
    CHECK(parse_size("1.5GiB") == 3 * GiB / 2);
    CHECK(parse_size("100b") == 100);
    CHECK(parse_size(" 4 MiB ") == 4 * MiB);
    CHECK(invalid_message([] { parse_size("2 GX"); }) ==
          "invalid size '2 GX': unknown unit 'GX'; expected a size such as 512MiB or 2GiB (a "
          "plain number is MiB; units: B, KiB, MiB, GiB, TiB)");
    CHECK(invalid_message([] { parse_size("lots"); }).starts_with("invalid size 'lots'"));
    CHECK(invalid_message([] { parse_size("-1"); }).starts_with("invalid size '-1'"));
    CHECK(invalid_message([] { parse_size("99999999999TiB"); }) ==
          "size '99999999999TiB' is too large");
    CHECK(format_size(2 * GiB) == "2GiB");
    CHECK(format_size(1536 * MiB) == "1536MiB");
    CHECK(format_size(1000) == "1000B");
}

TEST_CASE("durations: Go and Compose syntax, a unit is required") {
    CHECK(parse_duration("500ms") == Duration(500));
    CHECK(parse_duration("2s") == Duration(2000));
    CHECK(parse_duration("1m") == Duration(60000));
    CHECK(parse_duration("1m30s") == Duration(90000));
    CHECK(parse_duration("1h") == Duration(3600000));
    CHECK(parse_duration("1.5s") == Duration(1500));
    CHECK(parse_duration("0s") == Duration(0));
    CHECK(invalid_message([] { parse_duration("2"); }) ==
          "duration '2' needs a unit, for example '2s'");
    CHECK(invalid_message([] { parse_duration("2d"); }) ==
          "invalid duration '2d': unknown unit 'd'; expected a duration such as 500ms, 2s, 1m or "
          "1m30s (units: ms, s, m, h)");
    CHECK(invalid_message([] { parse_duration("s"); }).starts_with("invalid duration 's'"));
    CHECK(invalid_message([] { parse_duration(""); }).starts_with("empty duration"));
    CHECK(format_duration(Duration(90000)) == "90s");
    CHECK(format_duration(Duration(120000)) == "2m");
    CHECK(format_duration(Duration(250)) == "250ms");
}

TEST_CASE("CPU counts") {
    CHECK(parse_vcpu_count("4") == 4);
    CHECK(invalid_message([] { parse_vcpu_count("0"); }) ==
          "invalid CPU count '0': expected a whole number of CPUs from 1 to 512");
    CHECK(invalid_message([] { parse_vcpu_count("1.5"); }).starts_with("invalid CPU count '1.5'"));
    CHECK(parse_cpu_share("0.5") == doctest::Approx(0.5));
    CHECK(parse_cpu_share("2") == doctest::Approx(2.0));
    CHECK(invalid_message([] { parse_cpu_share("0"); }) ==
          "invalid CPU count '0': expected a number of CPUs above 0, such as 0.5 or 2");
    CHECK(invalid_message([] { parse_cpu_share("half"); }).starts_with("invalid CPU count"));
}

TEST_CASE("integers") {
    CHECK(parse_integer("42", 0, 99) == 42);
    CHECK(invalid_message([] { parse_integer("100", 0, 99); }) ==
          "100 is out of range: expected a whole number from 0 to 99");
    CHECK(invalid_message([] { parse_integer("4x", 0, 99); }) ==
          "'4x' is not a whole number: expected one from 0 to 99");
}

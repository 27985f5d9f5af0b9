#include "common/strings.hpp"

#include <doctest/doctest.h>

using namespace lcloud;

TEST_CASE("closest_match suggests near typos only") {
    const std::vector<std::string_view> keys = {"ports", "volumes", "image", "healthcheck"};
    CHECK(closest_match("port", keys) == "ports");
    CHECK(closest_match("volume", keys) == "volumes");
    CHECK(closest_match("Image", keys) == "image");
    CHECK(closest_match("helthcheck", keys) == "healthcheck");
    CHECK_FALSE(closest_match("zzz", keys));
}

TEST_CASE("shell_split follows POSIX quoting") {
    CHECK(shell_split("a b  c") == std::vector<std::string>{"a", "b", "c"});
    CHECK(shell_split(R"(sh -c 'echo "hi there"')") ==
          std::vector<std::string>{"sh", "-c", "echo \"hi there\""});
    CHECK(shell_split(R"(a\ b "c\"d" '')") == std::vector<std::string>{"a b", "c\"d", ""});
    CHECK(shell_split("   ").empty());
    CHECK_THROWS_AS(shell_split("echo 'open"), InvalidValue);
    CHECK(shell_quote("plain-arg") == "plain-arg");
    CHECK(shell_quote("it's") == R"('it'\''s')");
}

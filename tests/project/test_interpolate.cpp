#include "common/strings.hpp"
#include "project/dotenv.hpp"
#include "project/interpolate.hpp"

#include <doctest/doctest.h>
#include <map>

using namespace lcloud;
using namespace lcloud::project;

namespace {

struct Fixture {
    std::map<std::string, std::string> variables = {
        {"PORT", "8500"}, {"EMPTY", ""}, {"NAME", "web"}};
    std::vector<std::string> warnings;

    std::string run(std::string_view text) {
        return interpolate(
            text,
            [this](std::string_view name) -> std::optional<std::string> {
                const auto it = variables.find(std::string(name));
                if (it == variables.end()) return std::nullopt;
                return it->second;
            },
            [this](std::string message) { warnings.push_back(std::move(message)); });
    }
};

} // namespace

TEST_CASE("interpolation: Compose's variable syntax") {
    Fixture f;
    CHECK(f.run("${PORT}") == "8500");
    CHECK(f.run("$PORT/x") == "8500/x");
    CHECK(f.run("port-${PORT}-end") == "port-8500-end");
    CHECK(f.run("${MISSING:-80}") == "80");
    CHECK(f.run("${EMPTY:-fallback}") == "fallback");
    CHECK(f.run("${EMPTY-fallback}").empty());
    CHECK(f.run("${MISSING-fallback}") == "fallback");
    CHECK(f.run("${MISSING:-${NAME}-x}") == "web-x");
    CHECK(f.run("${PORT:+set}") == "set");
    CHECK(f.run("${MISSING:+set}").empty());
    CHECK(f.run("$$PORT costs $$5") == "$PORT costs $5");
    CHECK(f.run("a $ b") == "a $ b");
    CHECK(f.warnings.empty());
}

TEST_CASE("interpolation: unset variables warn, required ones fail") {
    Fixture f;
    CHECK(f.run("x${MISSING}y") == "xy");
    REQUIRE(f.warnings.size() == 1);
    CHECK(f.warnings[0] == "variable MISSING is not set; using an empty string (set it in the "
                           "environment or in .env, or write ${MISSING:-default})");
    try {
        f.run("${TOKEN:?set TOKEN to your API token}");
        FAIL("expected an error");
    } catch (const InvalidValue& invalid) {
        CHECK(invalid.message() ==
              "required variable TOKEN is not set: set TOKEN to your API token");
    }
    CHECK_THROWS_AS(f.run("${PORT"), InvalidValue);
    CHECK_THROWS_AS(f.run("${1BAD}"), InvalidValue);
    CHECK_THROWS_AS(f.run("${PORT:x}"), InvalidValue);
}

TEST_CASE(".env files") {
    const auto values = parse_dotenv("# comment\nexport A=1\nB = two words # note\nC='lit $X'\n"
                                     "D=\"line\\nnext\"\n\nE=\n");
    CHECK(values.at("A") == "1");
    CHECK(values.at("B") == "two words");
    CHECK(values.at("C") == "lit $X");
    CHECK(values.at("D") == "line\nnext");
    CHECK(values.at("E").empty());
    try {
        parse_dotenv("A=1\nnot a line\n");
        FAIL("expected an error");
    } catch (const InvalidValue& invalid) {
        CHECK(invalid.message() == "line 2: expected KEY=value, got 'not a line'");
    }
    CHECK_THROWS_AS(parse_dotenv("A=\"open\n"), InvalidValue);
}

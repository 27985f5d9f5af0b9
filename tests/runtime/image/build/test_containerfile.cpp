#include "build_support.hpp"
#include "common/strings.hpp"
#include "runtime/image/build/containerfile.hpp"
#include "runtime/image/build/ignore.hpp"
#include "runtime/image/build/words.hpp"

#include <doctest/doctest.h>

#include <map>

using namespace lcloud::test::image;
using namespace lcloud::runtime::image::build;

namespace {

Lookup variables(const std::map<std::string, std::string>& values) {
    return [values](std::string_view name) -> std::optional<std::string> {
        const auto found = values.find(std::string(name));
        if (found == values.end()) return std::nullopt;
        return found->second;
    };
}

std::string parse_error(const std::string& text) {
    try {
        parse_containerfile(text, "Containerfile");
    } catch (const BuildError& error) {
        return error.what();
    }
    return "(parsed)";
}

} // namespace

TEST_CASE("image build: the parser joins continuations, skips comments and reads flags") {
    const auto file = parse_containerfile("# syntax=docker/dockerfile:1\n"
                                          "\n"
                                          "from busybox:test AS base\n"
                                          "RUN echo a \\\n"
                                          "# a comment inside the continuation\n"
                                          "\n"
                                          "    && echo b\n"
                                          "  COPY --chown=1:2 --from=base a b\n"
                                          "CMD --help\n",
                                          "Containerfile");
    REQUIRE(file.instructions.size() == 4);
    CHECK(file.instructions[0].keyword == "FROM");
    CHECK(file.instructions[0].line == 3);
    CHECK(file.instructions[1].keyword == "RUN");
    CHECK(file.instructions[1].line == 4);
    CHECK(file.instructions[1].arguments == "echo a     && echo b");
    CHECK(file.instructions[2].line == 8);
    CHECK(file.instructions[2].flag("chown") == "1:2");
    CHECK(file.instructions[2].flag("from") == "base");
    CHECK(file.instructions[2].arguments == "a b");
    CHECK(file.instructions[3].arguments == "--help"); // CMD takes no flags: an argument

    const auto backtick =
        parse_containerfile("# escape=`\nFROM scratch\nRUN dir c:\\ `\n  /w\n", "Containerfile");
    CHECK(backtick.escape == '`');
    CHECK(backtick.instructions[1].arguments == "dir c:\\   /w");
}

TEST_CASE("image build: the parser refuses unknown instructions and misplaced ones by line") {
    CHECK(parse_error("FROM scratch\n\nRUNN echo\n") ==
          "Containerfile:3: unknown instruction 'RUNN'; did you mean RUN?");
    CHECK(parse_error("FROM scratch\nFOOBAR x\n")
              .find("Containerfile:2: unknown instruction 'FOOBAR'") == 0);
    CHECK(parse_error("ENV A=1\nFROM scratch\n") ==
          "Containerfile:1: ENV before the first FROM; only ARG may come before it");
    CHECK(parse_error("FROM scratch\nRUN\n") == "Containerfile:2: RUN needs arguments");
    CHECK(parse_error("FROM scratch\nCOPY --own=1 a b\n")
              .find("Containerfile:2: COPY does not take --own") == 0);
    CHECK(parse_error("ARG A=1\n").find("no FROM instruction") != std::string::npos);
}

TEST_CASE("image build: exec form is a JSON array, anything else the shell form") {
    CHECK(exec_form(R"(["/bin/sh", "-c", "echo hi"])") ==
          std::vector<std::string>{"/bin/sh", "-c", "echo hi"});
    CHECK(exec_form("[ \"a\" ]") == std::vector<std::string>{"a"});
    CHECK_FALSE(exec_form("echo [not json]"));
    CHECK_FALSE(exec_form("[not, json]"));
    CHECK_FALSE(exec_form("[1, 2]"));
}

TEST_CASE("image build: variables expand as Docker expands them") {
    const auto lookup = variables({{"NAME", "world"}, {"EMPTY", ""}, {"TWO", "a b"}});
    CHECK(expand_word("hello $NAME", lookup, '\\') == "hello world");
    CHECK(expand_word("${NAME}s", lookup, '\\') == "worlds");
    CHECK(expand_word("${UNSET:-fallback}", lookup, '\\') == "fallback");
    CHECK(expand_word("${EMPTY:-fallback}", lookup, '\\') == "fallback");
    CHECK(expand_word("${EMPTY-kept}", lookup, '\\') == "");
    CHECK(expand_word("${NAME:+alternative}", lookup, '\\') == "alternative");
    CHECK(expand_word("${UNSET:+alternative}", lookup, '\\') == "");
    CHECK(expand_word("${UNSET:-${NAME}}", lookup, '\\') == "world");
    CHECK(expand_word("'$NAME' \"$NAME\" \\$NAME", lookup, '\\') == "$NAME world $NAME");
    CHECK(expand_words("$TWO \"$TWO\" c\\ d ''", lookup, '\\') ==
          std::vector<std::string>{"a", "b", "a b", "c d", ""});
    CHECK(expand_word("cost: 5$", lookup, '\\') == "cost: 5$");
    CHECK_THROWS_AS(expand_word("${UNSET:?must be set}", lookup, '\\'), lcloud::InvalidValue);
    CHECK_THROWS_AS(expand_word("${NAME", lookup, '\\'), lcloud::InvalidValue);
    CHECK_THROWS_AS(expand_word("\"open", lookup, '\\'), lcloud::InvalidValue);
    CHECK(split_raw("A=1 B=\"x y\" C='z w'", '\\') ==
          std::vector<std::string>{"A=1", "B=\"x y\"", "C='z w'"});
    CHECK(parse_duration("1m30s") == 90'000'000'000);
    CHECK(parse_duration("1.5h") == 5'400'000'000'000);
    CHECK(parse_duration("250ms") == 250'000'000);
    CHECK_THROWS_AS(parse_duration("30"), lcloud::InvalidValue);
    CHECK_THROWS_AS(parse_duration("5 s"), lcloud::InvalidValue);
}

TEST_CASE("image build: .dockerignore rules and COPY globs match as Docker's do") {
    const auto rules = IgnoreRules::parse("# comment\n*.log\n/build\n**/tmp\n!build/keep*\n"
                                          "docs/**/*.md\n");
    CHECK(rules.excluded("app.log"));
    CHECK_FALSE(rules.excluded("src/app.log")); // * does not cross directories
    CHECK(rules.excluded("build"));
    CHECK(rules.excluded("build/out.o")); // a rule for a directory covers what is in it
    CHECK_FALSE(rules.excluded("build/keep.txt"));
    CHECK(rules.excluded("tmp/x"));
    CHECK(rules.excluded("a/b/tmp"));
    CHECK(rules.excluded("docs/a/b/c.md"));
    CHECK(rules.excluded("docs/c.md"));
    CHECK_FALSE(rules.excluded("docs/c.txt"));
    CHECK(rules.has_exceptions());
    CHECK(glob_match("src/*.c", "src/main.c", false));
    CHECK_FALSE(glob_match("src/*.c", "src/sub/main.c", false));
    CHECK(glob_match("file[0-9].txt", "file7.txt", false));
    CHECK_FALSE(glob_match("file[^0-9].txt", "file7.txt", false));
    CHECK(glob_match("a?c", "abc", false));
    CHECK(clean_relative("./a//b/../c/") == "a/c");
    CHECK(clean_relative("../../x") == "x");
}

TEST_CASE("image build: ARG, ENV and the command forms in the image config (FROM scratch)") {
    BuildSandbox box;
    lcloud::runtime::image::build::BuildOptions options;
    options.build_args = {{"VERSION", "2.0"}, {"UNUSED", "x"}};
    const auto result = box.build(R"(ARG VERSION=1.0
ARG GLOBAL=global
FROM scratch
LABEL before=[$GLOBAL]
ARG GLOBAL
ARG VERSION
ARG SUFFIX=-${VERSION}-rc
ENV A=1 B="two words" C=${VERSION}${SUFFIX}
ENV D the rest of the line
ENV E=$A F=${UNSET:-default}
LABEL after=[$GLOBAL] version=$VERSION
ENTRYPOINT /app --serve
CMD ["--port", "80"]
SHELL ["/bin/bash", "-euc"]
CMD run it
STOPSIGNAL SIGTERM
VOLUME /data ["/not-json"]
)",
                                  options);
    INFO(box.output_text());
    CHECK(result.layers_created == 0);
    const auto config = box.store.inspect("app:test").config;
    CHECK(config.env == std::vector<std::string>{"A=1", "B=two words", "C=2.0-2.0-rc",
                                                 "D=the rest of the line", "E=1", "F=default"});
    CHECK(config.labels.at("before") == "[]"); // a global ARG is not seen in a stage
    CHECK(config.labels.at("after") == "[global]");
    CHECK(config.labels.at("version") == "2.0");
    CHECK(config.entrypoint == std::vector<std::string>{"/bin/sh", "-c", "/app --serve"});
    CHECK(config.cmd == std::vector<std::string>{"/bin/bash", "-euc", "run it"});
    CHECK(config.stop_signal == "SIGTERM");
    CHECK(box.output_text().find("not consumed: UNUSED") != std::string::npos);

    // An ENTRYPOINT drops the CMD of the base, unless the stage sets its own.
    box.build("FROM scratch\nCMD [\"base\"]\n", tagged("base:1"));
    box.build("FROM base:1\nENTRYPOINT [\"/app\"]\n", tagged("derived:1"));
    CHECK_FALSE(box.store.inspect("derived:1").config.cmd);
}

// The log file: JSON lines, rotation, tails.
#include "agent/logs/log_file.hpp"
#include "agent/logs/log_tail.hpp"
#include "agent/logs/log_test_support.hpp"
#include "common/error.hpp"
#include "support/temp_dir.hpp"

#include <doctest/doctest.h>
#include <fstream>
#include <nlohmann/json.hpp>

using namespace lcloud;
using namespace lcloud::agent;
using namespace lcloud::test;

namespace {

std::vector<std::string> tail_logs(const std::filesystem::path& dir, std::optional<size_t> n) {
    return logs_of(read_tail(dir, n), "stdout");
}

std::vector<std::string> last(const std::vector<std::string>& lines, size_t n) {
    return {lines.end() - static_cast<std::ptrdiff_t>(n), lines.end()};
}

} // namespace

TEST_CASE("agent logs: rotation keeps max_files and read_tail spans the files") {
    TempDir dir;
    std::ofstream(dir.path() / "container.log.7") << "left by a larger max_files\n";
    {
        LogFile file(dir.path(), {1000, 3});
        for (const auto& line : numbered("line ", 100))
            file.append("stdout", line);
    }
    const auto files = log_files(dir.path());
    REQUIRE(files.size() == 3);
    CHECK(files[0].filename() == "container.log.2");
    CHECK(files[1].filename() == "container.log.1");
    CHECK(files[2].filename() == "container.log");
    for (size_t i = 0; i < 2; ++i) {
        CHECK(std::filesystem::file_size(files[i]) >= 1000);
        CHECK(std::filesystem::file_size(files[i]) < 1100); // one entry past the limit
    }

    const auto all = tail_logs(dir.path(), std::nullopt);
    const auto lines = numbered("line ", 100);
    REQUIRE(all.size() > 20);
    REQUIRE(all.size() < 60); // the oldest were rotated out
    CHECK(all == last(lines, all.size()));
    CHECK(tail_logs(dir.path(), 0) == all);
    CHECK(tail_logs(dir.path(), 1000) == all);
    CHECK(tail_logs(dir.path(), 5) == last(lines, 5));
    const size_t in_current = raw_lines(files[2]).size();
    REQUIRE(in_current < 10);
    CHECK(tail_logs(dir.path(), in_current + 3) == last(lines, in_current + 3));
    CHECK(tail_logs(dir.path(), all.size() - 1) == last(lines, all.size() - 1));

    TempDir single;
    LogFile file(single.path(), {200, 1});
    for (const auto& line : numbered("line ", 10))
        file.append("stdout", line);
    REQUIRE(log_files(single.path()).size() == 1);
    CHECK(tail_logs(single.path(), std::nullopt).size() < 3);
    CHECK_THROWS_AS(LogFile(single.path(), {0, 3}), Error);
}

TEST_CASE("agent logs: a line torn by a killed writer costs only itself") {
    TempDir dir;
    std::ofstream(dir.path() / "container.log")
        << R"({"log":"whole\n","stream":"stdout","time":"2026-11-23T12:00:00.000000000Z"})"
        << "\n{\"log\":\"to";
    LogFile(dir.path()).append("stderr", "next\n");
    const auto entries = read_tail(dir.path(), std::nullopt);
    REQUIRE(entries.size() == 2);
    CHECK(entries[0] == LogEntry{"2026-11-23T12:00:00.000000000Z", "stdout", "whole\n"});
    CHECK(entries[1].log == "next\n");
    CHECK(read_tail(dir.path(), 2) == entries);
    CHECK(read_tail(dir.path(), 1) == std::vector<LogEntry>{entries[1]});
}

TEST_CASE("agent logs: invalid UTF-8 and control bytes give valid JSON lines") {
    TempDir dir;
    LogFile file(dir.path());
    file.append("stdout", "ok \xff\xfe bad \xc3\n");
    file.append("stderr", std::string("nul \0 escape \x1b[31m\n", 20));
    timespec when{1795435200, 123456789}; // 2026-11-23T12:00:00Z
    file.append("event", "restarted\n", when);

    const auto lines = raw_lines(dir.path() / "container.log");
    REQUIRE(lines.size() == 3);
    std::vector<nlohmann::json> parsed;
    for (const auto& line : lines)
        parsed.push_back(nlohmann::json::parse(line)); // strict: throws on invalid UTF-8
    const std::string first = parsed[0].at("log");
    CHECK(first.find("ok ") == 0);
    CHECK(first.find(" bad ") != std::string::npos);
    CHECK(first.find("\xef\xbf\xbd") != std::string::npos);
    CHECK(parsed[1].at("log") == std::string("nul \0 escape \x1b[31m\n", 20));
    CHECK(parsed[2].at("time") == "2026-11-23T12:00:00.123456789Z");
    CHECK(lines[2].find(R"({"log":"restarted\n","stream":"event",)") == 0); // Docker's order
}

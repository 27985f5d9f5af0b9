// Following a log as it grows and rotates.
#include "agent/logs/log_follow.hpp"
#include "agent/logs/log_test_support.hpp"
#include "support/temp_dir.hpp"

#include <doctest/doctest.h>

using namespace lcloud;
using namespace lcloud::agent;
using namespace lcloud::test;

TEST_CASE("agent logs: LogFollower delivers appended entries across rotations, each once") {
    TempDir dir;
    LogFile file(dir.path(), {1000, 3});
    for (const auto& line : numbered("old ", 10))
        file.append("stdout", line);
    EventLoop loop;
    std::vector<std::string> seen;
    LogFollower follower(loop, dir.path(),
                         [&](const LogEntry& entry) { seen.push_back(entry.log); });

    const auto lines = numbered("new ", 120);
    size_t written = 0;
    auto append = [&](size_t count) {
        for (size_t i = 0; i < count; ++i)
            file.append("stdout", lines[written++]);
    };
    // Small steps, each seen before the next.
    while (written < 40) {
        append(5);
        REQUIRE(drive(loop, [&] { return seen.size() == written; }));
    }
    // Bursts of two rotations between two turns of the loop (about 14 entries per file).
    for (size_t burst : {30, 33}) {
        append(burst);
        REQUIRE(drive(loop, [&] { return seen.size() >= written; }));
    }
    append(lines.size() - written);
    REQUIRE(drive(loop, [&] { return seen.size() >= written; }));
    for (int i = 0; i < 3; ++i)
        loop.run_once(std::chrono::milliseconds(10));
    CHECK(seen == lines);
    CHECK(std::filesystem::exists(dir.path() / "container.log.2"));
}

TEST_CASE("agent logs: a follower started before the log exists reads it from its start") {
    TempDir dir;
    EventLoop loop;
    std::vector<std::string> seen;
    LogFollower follower(loop, dir.path(),
                         [&](const LogEntry& entry) { seen.push_back(entry.log); });
    LogFile file(dir.path());
    file.append("stdout", "first\n");
    file.append("stderr", "second\n");
    REQUIRE(drive(loop, [&] { return seen.size() >= 2; }));
    CHECK(seen == std::vector<std::string>{"first\n", "second\n"});
}

TEST_CASE("agent logs: a follower destroyed by its own callback stops there") {
    TempDir dir;
    LogFile file(dir.path());
    EventLoop loop;
    int calls = 0;
    std::unique_ptr<LogFollower> follower;
    follower = std::make_unique<LogFollower>(loop, dir.path(), [&](const LogEntry&) {
        ++calls;
        follower.reset();
    });
    for (const auto& line : numbered("line ", 3))
        file.append("stdout", line);
    REQUIRE(drive(loop, [&] { return calls > 0; }));
    loop.run_once(std::chrono::milliseconds(10));
    CHECK(calls == 1);
    CHECK(follower == nullptr);
}

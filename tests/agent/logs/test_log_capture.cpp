// The capture of a container's output through its FIFOs, with forked children as containers.
#include "agent/logs/log_capture.hpp"
#include "agent/logs/log_tail.hpp"
#include "agent/logs/log_test_support.hpp"
#include "common/error.hpp"
#include "support/child_guard.hpp"
#include "support/temp_dir.hpp"

#include <doctest/doctest.h>
#include <fcntl.h>
#include <fstream>
#include <nlohmann/json.hpp>
#include <set>
#include <sys/stat.h>
#include <sys/wait.h>

using namespace lcloud;
using namespace lcloud::agent;
using namespace lcloud::test;

namespace {

std::vector<LogEntry> all_entries(const std::filesystem::path& dir) {
    return read_tail(dir, std::nullopt);
}

} // namespace

TEST_CASE("agent logs: make_log_fifos makes private FIFOs, keeps them and refuses other files") {
    TempDir dir;
    make_log_fifos(dir.path());
    struct stat first {};
    REQUIRE(::stat((dir.path() / "stdout.fifo").c_str(), &first) == 0);
    CHECK(S_ISFIFO(first.st_mode));
    CHECK((first.st_mode & 07777) == 0600);
    struct stat err {};
    REQUIRE(::stat((dir.path() / "stderr.fifo").c_str(), &err) == 0);
    CHECK(S_ISFIFO(err.st_mode));
    CHECK((err.st_mode & 07777) == 0600);

    make_log_fifos(dir.path());
    struct stat again {};
    REQUIRE(::stat((dir.path() / "stdout.fifo").c_str(), &again) == 0);
    CHECK(again.st_ino == first.st_ino);

    auto stdio = open_container_stdio(dir.path());
    for (const Fd* fd : {&stdio.out, &stdio.err}) {
        CHECK((::fcntl(fd->get(), F_GETFL) & O_ACCMODE) == O_RDWR);
        CHECK((::fcntl(fd->get(), F_GETFD) & FD_CLOEXEC) != 0);
        // This machine allows 1 MiB (fs.pipe-max-size): room for output while no agent runs.
        CHECK(::fcntl(fd->get(), F_GETPIPE_SZ) == 1 << 20);
    }

    TempDir other;
    std::ofstream(other.path() / "stdout.fifo") << "a regular file";
    try {
        make_log_fifos(other.path());
        FAIL("a regular file was taken for a FIFO");
    } catch (const Error& error) {
        CHECK(std::string(error.what()).find((other.path() / "stdout.fifo").string()) !=
              std::string::npos);
    }
}

TEST_CASE("agent logs: a child's lines arrive in order with streams and times; flush() writes "
          "the partial line") {
    TempDir dir;
    make_log_fifos(dir.path());
    EventLoop loop;
    LogCapture capture(loop, dir.path());
    auto stdio = open_container_stdio(dir.path());
    TestPipe report, hold;
    ChildGuard child(fork_child([&] {
        bool ok = true;
        for (int i = 0; i < 100; ++i) {
            ok = ok && write_all(stdio.out.get(), "out " + std::to_string(i) + "\n");
            ok = ok && write_all(stdio.err.get(), "err " + std::to_string(i) + "\n");
        }
        ok = ok && write_all(stdio.out.get(), "partial");
        write_all(report.write.get(), ok ? "k" : "e");
        char byte;
        return static_cast<int>(::read(hold.read.get(), &byte, 1)); // stays until killed
    }));
    stdio = {};
    REQUIRE(read_byte(report.read.get()) == 'k');

    REQUIRE(drive(loop, [&] { return all_entries(dir.path()).size() == 200; }));
    for (int i = 0; i < 5; ++i)
        loop.run_once(std::chrono::milliseconds(1));
    auto entries = all_entries(dir.path());
    CHECK(entries.size() == 200); // the partial line waits for its end
    CHECK(capture.reading());

    capture.flush();
    entries = all_entries(dir.path());
    REQUIRE(entries.size() == 201);
    CHECK(entries.back() == LogEntry{entries.back().time, "stdout", "partial"});
    auto out = numbered("out ", 100);
    out.push_back("partial");
    CHECK(logs_of(entries, "stdout") == out);
    CHECK(logs_of(entries, "stderr") == numbered("err ", 100));

    for (size_t i = 0; i < entries.size(); ++i) {
        const std::string& time = entries[i].time;
        REQUIRE(time.size() == 30); // 2026-11-23T12:00:00.123456789Z
        CHECK(time[10] == 'T');
        CHECK(time.back() == 'Z');
        if (i > 0) CHECK(entries[i - 1].time <= time);
    }
    for (const auto& line : raw_lines(dir.path() / "container.log")) {
        const auto json = nlohmann::json::parse(line);
        CHECK(json.size() == 3);
        CHECK(json.at("time").is_string());
    }
}

TEST_CASE("agent logs: the container's writes never fail while no capture reads, and the next "
          "capture gets them") {
    TempDir dir;
    make_log_fifos(dir.path());
    EventLoop loop;
    auto first = std::make_unique<LogCapture>(loop, dir.path());
    auto stdio = open_container_stdio(dir.path());
    TestPipe orders, report;
    ChildGuard child(fork_child([&] {
        for (const char* batch : {"before ", "after "}) {
            if (read_byte(orders.read.get()) != 'w') return 2;
            bool ok = true;
            for (int i = 0; i < 50; ++i)
                ok = ok && write_all(stdio.out.get(), batch + std::to_string(i) + "\n");
            write_all(report.write.get(), ok ? "k" : "e");
        }
        char byte;
        return static_cast<int>(::read(orders.read.get(), &byte, 1)); // stays until killed
    }));
    stdio = {};

    write_all(orders.write.get(), "w");
    REQUIRE(read_byte(report.read.get()) == 'k');
    REQUIRE(drive(loop, [&] { return all_entries(dir.path()).size() == 50; }));

    first.reset(); // the agent is gone
    write_all(orders.write.get(), "w");
    CHECK(read_byte(report.read.get()) == 'k');
    int status = 0;
    CHECK(::waitpid(child.pid(), &status, WNOHANG) == 0); // alive, no SIGPIPE

    LogCapture second(loop, dir.path());
    REQUIRE(drive(loop, [&] { return all_entries(dir.path()).size() >= 100; }));
    loop.run_once(std::chrono::milliseconds(10));
    auto expected = numbered("before ", 50);
    for (auto& line : numbered("after ", 50))
        expected.push_back(line);
    CHECK(logs_of(all_entries(dir.path()), "stdout") == expected);
}

TEST_CASE("agent logs: a capture stops when the container is gone and reopen() follows its "
          "restart") {
    TempDir dir;
    make_log_fifos(dir.path());
    EventLoop loop;
    LogCapture capture(loop, dir.path());
    auto run = [&](const std::string& out, const std::string& err) {
        auto stdio = open_container_stdio(dir.path());
        capture.reopen(); // as the supervisor does; harmless for the first run
        CHECK(capture.reading());
        ChildGuard child(fork_child([&] {
            return write_all(stdio.out.get(), out) && write_all(stdio.err.get(), err) ? 0 : 1;
        }));
        stdio = {};
        // The hang-up, once the child is gone, ends the reading by itself.
        REQUIRE(drive(loop, [&] { return !capture.reading(); }));
        const int status = child.kill_and_reap();
        CHECK((WIFEXITED(status) && WEXITSTATUS(status) == 0));
    };

    run("run 1\nunterminated", "");
    capture.event("restarted (exit code 0)");
    run("run 2\n", "oops\n");
    // Reopened with no container holding the FIFOs: no hang-up, no entries, until one does.
    capture.reopen();
    for (int i = 0; i < 3; ++i)
        loop.run_once(std::chrono::milliseconds(5));
    CHECK(capture.reading());

    const std::vector<LogEntry> expected_order = {
        {"", "stdout", "run 1\n"},
        {"", "stdout", "unterminated"},
        {"", "event", "restarted (exit code 0)\n"},
        {"", "stdout", "run 2\n"},
    };
    auto entries = all_entries(dir.path());
    std::vector<LogEntry> stdout_and_events;
    for (auto entry : entries)
        if (entry.stream != "stderr") stdout_and_events.push_back({"", entry.stream, entry.log});
    CHECK(stdout_and_events == expected_order);
    CHECK(logs_of(entries, "stderr") == std::vector<std::string>{"oops\n"});
}

TEST_CASE("agent logs: a line longer than 16 KiB leaves in pieces cut between UTF-8 characters") {
    TempDir dir;
    make_log_fifos(dir.path());
    EventLoop loop;
    LogCapture capture(loop, dir.path());
    std::string line = "a"; // puts the 16 KiB limit inside a two-byte character
    for (int i = 0; i < 20000; ++i)
        line += "\xc3\xa9"; // é
    line += "\n";
    {
        auto stdio = open_container_stdio(dir.path());
        ChildGuard child(fork_child([&] { return write_all(stdio.out.get(), line) ? 0 : 1; }));
        stdio = {};
        REQUIRE(drive(loop, [&] { return !capture.reading(); }));
    }
    const auto pieces = logs_of(all_entries(dir.path()), "stdout");
    REQUIRE(pieces.size() == 3);
    std::string joined;
    for (size_t i = 0; i < pieces.size(); ++i) {
        CHECK(pieces[i].size() <= 16384);
        CHECK(pieces[i].find("\xef\xbf\xbd") == std::string::npos); // no U+FFFD: nothing torn
        CHECK((pieces[i].back() == '\n') == (i + 1 == pieces.size()));
        joined += pieces[i];
    }
    CHECK(joined == line);
}

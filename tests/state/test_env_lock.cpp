#include "common/fd.hpp"
#include "state/atomic_file.hpp"
#include "state/env_lock.hpp"
#include "state/state_dir.hpp"
#include "support/child_guard.hpp"
#include "support/temp_dir.hpp"

#include <doctest/doctest.h>

#include <cerrno>
#include <chrono>
#include <csignal>
#include <fcntl.h>
#include <optional>
#include <string>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <thread>
#include <unistd.h>

namespace fs = std::filesystem;
using namespace std::chrono_literals;
using lcloud::Fd;
using lcloud::state::EnvLock;
using lcloud::state::LockTimeout;
using lcloud::state::read_file;
using lcloud::test::ChildGuard;
using lcloud::test::TempDir;

namespace {

// A child process that takes the lock, reports so on a pipe, then holds it until killed.
pid_t fork_holder(const fs::path& lock_file, const char* purpose) {
    int ends[2];
    REQUIRE(::pipe2(ends, O_CLOEXEC) == 0);
    Fd read_end(ends[0]);
    Fd write_end(ends[1]);
    const pid_t pid = ::fork();
    REQUIRE(pid >= 0);
    if (pid == 0) {
        try {
            read_end.reset();
            const auto lock = EnvLock::acquire(lock_file, purpose, 5s);
            if (::write(write_end.get(), "1", 1) == 1) {
                for (;;)
                    ::pause();
            }
        } catch (...) {
        }
        ::_exit(1);
    }
    write_end.reset();
    char ready = 0;
    ssize_t count;
    while ((count = ::read(read_end.get(), &ready, 1)) < 0 && errno == EINTR) {
    }
    if (count != 1) { // the child failed: reap it before reporting
        ChildGuard failed(pid);
        FAIL("the lock-holding child could not take the lock");
    }
    return pid;
}

std::string expected_line(pid_t pid, std::string_view purpose) {
    return std::to_string(pid) + " " + std::string(purpose);
}

} // namespace

TEST_CASE("EnvLock times out naming the holder, then succeeds once the holder is gone") {
    TempDir dir;
    const auto lock_file = dir.path() / "env.lock";
    const pid_t holder_pid = fork_holder(lock_file, "lcloud up");
    ChildGuard holder(holder_pid);

    CHECK(EnvLock::holder(lock_file) == expected_line(holder_pid, "lcloud up"));
    const auto start = std::chrono::steady_clock::now();
    try {
        EnvLock::acquire(lock_file, "lcloud down", 300ms);
        FAIL("expected LockTimeout");
    } catch (const LockTimeout& error) {
        const auto waited = std::chrono::steady_clock::now() - start;
        const std::string message = error.what();
        INFO(message);
        CHECK(error.holder_pid() == holder_pid);
        CHECK(message.find(std::to_string(holder_pid)) != std::string::npos);
        CHECK(message.find("lcloud up") != std::string::npos);
        CHECK(message.find("Wait for it to finish") != std::string::npos);
        CHECK(waited >= 300ms);
        CHECK(waited < 3s);
    }
    // A failed attempt must not have overwritten the holder's record.
    CHECK(read_file(lock_file) == expected_line(holder_pid, "lcloud up") + "\n");

    holder.kill_and_reap();
    const auto start_again = std::chrono::steady_clock::now();
    const auto lock = EnvLock::acquire(lock_file, "lcloud down");
    CHECK(std::chrono::steady_clock::now() - start_again < 200ms);
    CHECK(read_file(lock_file) == expected_line(::getpid(), "lcloud down") + "\n");
    CHECK(EnvLock::holder(lock_file) == expected_line(::getpid(), "lcloud down"));
}

TEST_CASE("EnvLock records the holder in place, in a 0600 file that outlives the lock") {
    TempDir dir;
    const auto lock_file = dir.path() / "env.lock";
    CHECK_FALSE(EnvLock::holder(lock_file).has_value());
    struct stat before {};
    {
        const auto lock = EnvLock::acquire(lock_file, "a rather long purpose");
        CHECK(lock.path() == lock_file);
        REQUIRE(::stat(lock_file.c_str(), &before) == 0);
        CHECK((before.st_mode & 07777) == 0600);
    }
    CHECK(fs::exists(lock_file));
    CHECK_FALSE(EnvLock::holder(lock_file).has_value());
    const auto lock = EnvLock::acquire(lock_file, "up", 0ms);
    struct stat after {};
    REQUIRE(::stat(lock_file.c_str(), &after) == 0);
    CHECK(after.st_ino == before.st_ino);
    CHECK(read_file(lock_file) == expected_line(::getpid(), "up") + "\n");
}

TEST_CASE("EnvLock released by its destructor can be acquired again") {
    TempDir dir;
    const auto lock_file = dir.path() / "env.lock";
    {
        const auto lock = EnvLock::acquire(lock_file, "first");
        // flock() conflicts between open files even within one process.
        try {
            EnvLock::acquire(lock_file, "second", 0ms);
            FAIL("expected LockTimeout");
        } catch (const LockTimeout& error) {
            CHECK(error.holder_pid() == ::getpid());
            CHECK(std::string(error.what()).find("first") != std::string::npos);
        }
    }
    CHECK_NOTHROW(EnvLock::acquire(lock_file, "second", 0ms));
}

TEST_CASE("LockTimeout without a recorded holder says another process") {
    TempDir dir;
    const auto lock_file = dir.path() / "env.lock";
    // Someone holding the lock without recording itself: a bare flock() on the file.
    Fd bare(::open(lock_file.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600));
    REQUIRE(bare);
    REQUIRE(::flock(bare.get(), LOCK_EX) == 0);
    try {
        EnvLock::acquire(lock_file, "up", 60ms);
        FAIL("expected LockTimeout");
    } catch (const LockTimeout& error) {
        CHECK(error.holder_pid() == 0);
        CHECK(std::string(error.what()).find("another process") != std::string::npos);
    }
    CHECK(EnvLock::holder(lock_file) == "");
}

TEST_CASE("a moved-from EnvLock does not unlock again") {
    TempDir dir;
    const auto lock_file = dir.path() / "env.lock";
    std::optional<EnvLock> moved_from(EnvLock::acquire(lock_file, "first"));
    {
        EnvLock owner(std::move(*moved_from));
        CHECK_THROWS_AS(EnvLock::acquire(lock_file, "probe", 0ms), LockTimeout);
    }
    // The new lock's descriptor likely reuses the number the moved-from object once had.
    const auto current = EnvLock::acquire(lock_file, "second", 0ms);
    moved_from.reset();
    CHECK_THROWS_AS(EnvLock::acquire(lock_file, "probe", 0ms), LockTimeout);
    CHECK(EnvLock::holder(lock_file) == expected_line(::getpid(), "second"));
}

TEST_CASE("move-assigning an EnvLock releases the lock it held before") {
    TempDir dir;
    const auto first = dir.path() / "first.lock";
    const auto second = dir.path() / "second.lock";
    auto lock = EnvLock::acquire(first, "first");
    lock = EnvLock::acquire(second, "second");
    CHECK(lock.path() == second);
    CHECK_NOTHROW(EnvLock::acquire(first, "again", 0ms));
    CHECK_THROWS_AS(EnvLock::acquire(second, "probe", 0ms), LockTimeout);
}

TEST_CASE("a waiter gets the lock after its holder removed the state directory (destroy)") {
    TempDir dir;
    const auto state = lcloud::state::StateDir::open(dir.path());
    std::optional<EnvLock> held = EnvLock::acquire(state.file("lock"), "destroy");
    std::optional<EnvLock> waiter;
    std::thread waiting([&] { waiter = EnvLock::acquire(state.file("lock"), "up", 10s); });
    std::this_thread::sleep_for(200ms);
    CHECK(state.remove_when_spent());
    CHECK_FALSE(fs::exists(state.path()));
    held.reset();
    waiting.join();
    REQUIRE(waiter.has_value());
    // Made anew, and the waiter holds what the name now leads to.
    CHECK(fs::exists(state.file("lock")));
    CHECK(EnvLock::holder(state.file("lock")).value_or("").ends_with(" up"));
}

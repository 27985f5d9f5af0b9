#include "common/error.hpp"
#include "state/atomic_file.hpp"
#include "support/child_guard.hpp"
#include "support/temp_dir.hpp"

#include <doctest/doctest.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <csignal>
#include <random>
#include <string>
#include <sys/stat.h>
#include <sys/wait.h>
#include <thread>
#include <unistd.h>
#include <vector>

namespace fs = std::filesystem;
using lcloud::SystemError;
using lcloud::state::read_file;
using lcloud::state::remove_stale_temp_files;
using lcloud::state::write_file_atomic;
using lcloud::test::ChildGuard;
using lcloud::test::TempDir;

namespace {

mode_t mode_of(const fs::path& path) {
    struct stat info {};
    REQUIRE(::stat(path.c_str(), &info) == 0);
    return info.st_mode & 07777;
}

std::vector<std::string> names_in(const fs::path& dir) {
    std::vector<std::string> names;
    for (const auto& entry : fs::directory_iterator(dir))
        names.push_back(entry.path().filename().string());
    std::sort(names.begin(), names.end());
    return names;
}

size_t temp_files_in(const fs::path& dir) {
    size_t count = 0;
    for (const auto& name : names_in(dir))
        if (name.find(".tmp.") != std::string::npos) ++count;
    return count;
}

// A pid that existed and no longer does: a reaped child's.
pid_t dead_pid() {
    const pid_t pid = ::fork();
    REQUIRE(pid >= 0);
    if (pid == 0) ::_exit(0);
    ChildGuard child(pid);
    child.kill_and_reap();
    return pid;
}

} // namespace

TEST_CASE("write_file_atomic round-trips content with mode 0600 and leaves no temporary file") {
    TempDir dir;
    const auto file = dir.path() / "state.json";
    const std::string content = std::string("{\"a\": 1}\n") + std::string(1, '\0') + "tail";
    write_file_atomic(file, content);
    CHECK(read_file(file) == content);
    CHECK(mode_of(file) == 0600);
    CHECK(names_in(dir.path()) == std::vector<std::string>{"state.json"});
}

TEST_CASE("write_file_atomic applies the requested mode regardless of the umask") {
    TempDir dir;
    const auto file = dir.path() / "public";
    const mode_t old_umask = ::umask(077);
    write_file_atomic(file, "x", 0644);
    ::umask(old_umask);
    CHECK(mode_of(file) == 0644);
}

TEST_CASE("write_file_atomic overwrites an existing file") {
    TempDir dir;
    const auto file = dir.path() / "state";
    write_file_atomic(file, std::string(100000, 'a'));
    write_file_atomic(file, "short");
    CHECK(read_file(file) == "short");
    write_file_atomic(file, "");
    CHECK(read_file(file) == "");
    CHECK(names_in(dir.path()) == std::vector<std::string>{"state"});
}

TEST_CASE("write_file_atomic in a missing directory throws SystemError naming the path") {
    TempDir dir;
    const auto file = dir.path() / "missing" / "state";
    try {
        write_file_atomic(file, "content");
        FAIL("expected SystemError");
    } catch (const SystemError& error) {
        CHECK(error.error_number() == ENOENT);
        CHECK(error.object() == file.string());
        CHECK(std::string(error.what()).find(file.string()) != std::string::npos);
    }
    CHECK(names_in(dir.path()).empty());
}

TEST_CASE("write_file_atomic onto a directory fails and removes its temporary file") {
    TempDir dir;
    const auto target = dir.path() / "occupied";
    fs::create_directory(target);
    CHECK_THROWS_AS(write_file_atomic(target, "content"), SystemError);
    CHECK(names_in(dir.path()) == std::vector<std::string>{"occupied"});
}

TEST_CASE("read_file: nullopt for a missing file, SystemError for other failures") {
    TempDir dir;
    CHECK_FALSE(read_file(dir.path() / "absent").has_value());
    try {
        read_file(dir.path());
        FAIL("expected SystemError");
    } catch (const SystemError& error) {
        CHECK(error.error_number() == EISDIR);
        CHECK(error.object() == dir.path().string());
    }
}

TEST_CASE("remove_stale_temp_files removes only dead writers' temporary files") {
    TempDir dir;
    const pid_t dead = dead_pid();
    const std::string stale = ".state.tmp." + std::to_string(dead) + ".1f2e";
    const std::string live = ".state.tmp." + std::to_string(::getpid()) + ".abc";
    const std::vector<std::string> unrelated = {
        "state",
        ".hidden",
        "notes.tmp." + std::to_string(dead) + ".1", // no leading dot
        ".x.tmp." + std::to_string(dead) + ".zz",   // not hex
        ".x.tmp." + std::to_string(dead),           // no random part
    };
    for (const auto& name : unrelated)
        write_file_atomic(dir.path() / name, "keep");
    write_file_atomic(dir.path() / stale, "stale");
    write_file_atomic(dir.path() / live, "live");

    remove_stale_temp_files(dir.path());

    auto expected = unrelated;
    expected.push_back(live);
    std::sort(expected.begin(), expected.end());
    CHECK(names_in(dir.path()) == expected);
    CHECK_NOTHROW(remove_stale_temp_files(dir.path() / "absent"));
}

TEST_CASE("write_file_atomic never leaves a torn file when the writer is SIGKILLed") {
    TempDir dir;
    const auto file = dir.path() / "state";
    // Different sizes and bytes: any mix, prefix or truncation differs from both.
    const std::string content_a(1 << 20, 'A');
    std::string content_b(3 << 20, 'B');
    for (size_t i = 0; i < content_b.size(); i += 4096)
        content_b[i] = static_cast<char>('a' + (i / 4096) % 26);
    write_file_atomic(file, content_a);

    std::mt19937 random(std::random_device{}());
    std::uniform_int_distribution<int> delay_us(0, 20000);
    size_t leftovers = 0;
    for (int iteration = 0; iteration < 30; ++iteration) {
        const pid_t pid = ::fork();
        REQUIRE(pid >= 0);
        if (pid == 0) {
            try {
                for (;;) {
                    write_file_atomic(file, content_a);
                    write_file_atomic(file, content_b);
                }
            } catch (...) {
            }
            ::_exit(1);
        }
        ChildGuard child(pid);
        std::this_thread::sleep_for(std::chrono::microseconds(delay_us(random)));
        const int status = child.kill_and_reap();
        REQUIRE_MESSAGE(WIFSIGNALED(status), "the writer stopped on its own: it failed");

        const auto content = read_file(file);
        REQUIRE(content.has_value());
        const bool whole = *content == content_a || *content == content_b;
        CHECK_MESSAGE(whole, "iteration " << iteration << ": torn file of " << content->size()
                                          << " bytes");
        leftovers += temp_files_in(dir.path());
    }
    INFO("temporary files seen after kills (cumulative): " << leftovers);
    remove_stale_temp_files(dir.path());
    CHECK(names_in(dir.path()) == std::vector<std::string>{"state"});
}

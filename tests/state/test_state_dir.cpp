#include "common/error.hpp"
#include "state/atomic_file.hpp"
#include "state/state_dir.hpp"
#include "support/temp_dir.hpp"

#include <doctest/doctest.h>

#include <cerrno>
#include <csignal>
#include <string>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

namespace fs = std::filesystem;
using lcloud::Error;
using lcloud::SystemError;
using lcloud::state::StateDir;
using lcloud::state::write_file_atomic;
using lcloud::test::TempDir;

namespace {

mode_t mode_of(const fs::path& path) {
    struct stat info {};
    REQUIRE(::lstat(path.c_str(), &info) == 0);
    return info.st_mode;
}

std::string open_error(const fs::path& project_dir) {
    try {
        StateDir::open(project_dir);
    } catch (const SystemError& error) {
        return std::string("unexpected SystemError: ") + error.what();
    } catch (const Error& error) {
        return error.what();
    }
    return "no error";
}

} // namespace

TEST_CASE("StateDir::open creates .lcloud with mode 0700") {
    TempDir project;
    const auto state = StateDir::open(project.path());
    CHECK(std::string(StateDir::dir_name) == ".lcloud");
    CHECK(state.path() == project.path() / ".lcloud");
    const mode_t mode = mode_of(state.path());
    CHECK(S_ISDIR(mode));
    CHECK((mode & 07777) == 0700);
    CHECK(state.file("machine.json") == project.path() / ".lcloud" / "machine.json");
}

TEST_CASE("StateDir::open tightens an existing directory to 0700 and keeps its content") {
    TempDir project;
    const auto path = project.path() / ".lcloud";
    REQUIRE(::mkdir(path.c_str(), 0755) == 0);
    REQUIRE(::chmod(path.c_str(), 0755) == 0);
    StateDir::open(project.path()).write("kept", "yes");
    const auto state = StateDir::open(project.path());
    CHECK((mode_of(path) & 07777) == 0700);
    CHECK(state.read("kept") == "yes");
}

TEST_CASE("StateDir::open refuses a regular file named .lcloud with a clear Error") {
    TempDir project;
    const auto path = project.path() / ".lcloud";
    write_file_atomic(path, "not a directory");
    const std::string message = open_error(project.path());
    CHECK(message.find(path.string()) != std::string::npos);
    CHECK(message.find("not a directory") != std::string::npos);
    CHECK(S_ISREG(mode_of(path)));
    CHECK(lcloud::state::read_file(path) == "not a directory");
}

TEST_CASE("StateDir::open refuses a symbolic link named .lcloud and leaves its target alone") {
    TempDir project;
    TempDir elsewhere;
    REQUIRE(::chmod(elsewhere.path().c_str(), 0755) == 0);
    const auto path = project.path() / ".lcloud";
    fs::create_directory_symlink(elsewhere.path(), path);
    const std::string message = open_error(project.path());
    CHECK(message.find(path.string()) != std::string::npos);
    CHECK(message.find("symbolic link") != std::string::npos);
    CHECK((mode_of(elsewhere.path()) & 07777) == 0755);
}

TEST_CASE("StateDir write and read round-trip with mode 0600") {
    TempDir project;
    const auto state = StateDir::open(project.path());
    CHECK_FALSE(state.read("absent").has_value());
    state.write("machine.json", "{\"pid\": 42}\n");
    CHECK(state.read("machine.json") == "{\"pid\": 42}\n");
    state.write("machine.json", "{}");
    CHECK(state.read("machine.json") == "{}");
    CHECK((mode_of(state.file("machine.json")) & 07777) == 0600);
}

TEST_CASE("StateDir::open removes temporary files left by killed writers") {
    TempDir project;
    const auto state = StateDir::open(project.path());
    const pid_t pid = ::fork();
    REQUIRE(pid >= 0);
    if (pid == 0) ::_exit(0);
    int status = 0;
    while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
    }
    const std::string stale = ".machine.json.tmp." + std::to_string(pid) + ".9a";
    state.write(stale, "partial");
    state.write("machine.json", "{}");
    StateDir::open(project.path());
    CHECK_FALSE(fs::exists(state.file(stale)));
    CHECK(state.read("machine.json") == "{}");
}

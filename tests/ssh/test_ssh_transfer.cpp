#include "ssh/errors.hpp"
#include "ssh_test_setup.hpp"

#include <doctest/doctest.h>

#include <cerrno>
#include <csignal>
#include <fcntl.h>
#include <filesystem>
#include <fstream>
#include <poll.h>
#include <pty.h>
#include <string>
#include <sys/ioctl.h>
#include <thread>
#include <unistd.h>

using lcloud::test::SshServer;
using lcloud::test::SshSetup;
using namespace lcloud::ssh;

namespace {

// Everything the terminal's master side has, without waiting for more.
std::string drain(int fd) {
    std::string text;
    char buffer[4096];
    for (;;) {
        pollfd ready{fd, POLLIN, 0};
        if (::poll(&ready, 1, 100) <= 0) return text;
        const ssize_t count = ::read(fd, buffer, sizeof buffer);
        if (count <= 0) return text;
        text.append(buffer, count);
    }
}

// Running processes with `argument` on their command line.
int processes_with_argument(const std::string& argument) {
    int count = 0;
    for (const auto& entry : std::filesystem::directory_iterator("/proc")) {
        std::ifstream file(entry.path() / "cmdline");
        const std::string cmdline(std::istreambuf_iterator<char>(file), {});
        if (cmdline.find(argument) != std::string::npos) ++count;
    }
    return count;
}

struct Pty {
    int master = -1;
    int slave = -1;
    Pty() {
        winsize size{};
        size.ws_row = 24;
        size.ws_col = 80;
        REQUIRE(::openpty(&master, &slave, nullptr, nullptr, &size) == 0);
    }
    ~Pty() {
        ::close(master);
        ::close(slave);
    }
};

} // namespace

TEST_CASE("ssh: upload writes the bytes with the mode, replacing the file") {
    SshSetup setup;
    Session session = Session::connect(setup.target);
    const std::string dir = (setup.client_dir.path() / "remote dir").string();
    REQUIRE(session.capture("mkdir '" + dir + "'").exit_code == 0);
    const std::string path = dir + "/it's a file";
    std::string bytes = "first\n";
    bytes += std::string("\0\xff binary", 9);
    session.upload(path, bytes, 0640);
    const auto remote = [&](const std::string& command) {
        const Session::Result result = session.capture(command);
        REQUIRE(result.exit_code == 0);
        return result.out;
    };
    CHECK(remote("cat '" + dir + "/it'\\''s a file'") == bytes);
    CHECK(remote("stat -c %a '" + dir + "/it'\\''s a file'") == "640\n");
    session.upload(path, "second", 0755);
    CHECK(remote("cat '" + dir + "/it'\\''s a file'") == "second");
    CHECK(remote("stat -c %a '" + dir + "/it'\\''s a file'") == "755\n");
    CHECK(remote("ls '" + dir + "'") == "it's a file\n");

    CHECK_THROWS_AS(session.upload("/nonexistent/dir/file", "x", 0644), SshError);
}

TEST_CASE("ssh: interactive runs the shell on a terminal and returns its exit status") {
    SshSetup setup;
    Session session = Session::connect(setup.target);
    Pty pty;
    const std::string typed = "echo $((6*7)); exit 5\n";
    REQUIRE(::write(pty.master, typed.data(), typed.size()) == static_cast<ssize_t>(typed.size()));
    CHECK(session.interactive(std::nullopt, pty.slave) == 5);
    const std::string screen = drain(pty.master);
    CHECK(screen.find("42") != std::string::npos);
    // The terminal's mode is back: canonical input and echo.
    termios mode{};
    REQUIRE(::tcgetattr(pty.slave, &mode) == 0);
    CHECK((mode.c_lflag & ICANON) != 0);
    CHECK((mode.c_lflag & ECHO) != 0);
}

TEST_CASE("ssh: interactive runs a command on a terminal of the window's size") {
    SshSetup setup;
    Session session = Session::connect(setup.target);
    Pty pty;
    CHECK(session.interactive("tty; stty size; exit 4", pty.slave) == 4);
    std::string screen = drain(pty.master);
    CHECK(screen.find("/dev/pts/") != std::string::npos);
    CHECK(screen.find("24 80") != std::string::npos);

    // A window change reaches the remote terminal.
    std::thread resizer([&] {
        std::this_thread::sleep_for(std::chrono::milliseconds(300));
        winsize size{};
        size.ws_row = 50;
        size.ws_col = 132;
        ::ioctl(pty.master, TIOCSWINSZ, &size);
        ::kill(::getpid(), SIGWINCH);
    });
    const int status = session.interactive("sleep 1.5; stty size", pty.slave);
    resizer.join();
    CHECK(status == 0);
    screen = drain(pty.master);
    CHECK(screen.find("50 132") != std::string::npos);
}

TEST_CASE("ssh: the test server and its sessions are gone when the fixture ends") {
    // An argument no other process has, to find the session's process by.
    const std::string marker = "61." + std::to_string(::getpid());
    pid_t pid = 0;
    {
        SshSetup setup;
        pid = setup.server.pid();
        REQUIRE(pid > 0);
        Session session = Session::connect(setup.target);
        // Still running when the server is killed.
        CHECK(
            session.capture("sleep " + marker + " >/dev/null 2>&1 </dev/null & echo started").out ==
            "started\n");
        // Until the forked shell has become sleep.
        for (int i = 0; i < 200 && processes_with_argument(marker) == 0; ++i)
            std::this_thread::sleep_for(std::chrono::milliseconds(10));
        CHECK(processes_with_argument(marker) == 1);
    }
    CHECK(::kill(pid, 0) == -1);
    CHECK(errno == ESRCH);
    CHECK(processes_with_argument(marker) == 0);
}

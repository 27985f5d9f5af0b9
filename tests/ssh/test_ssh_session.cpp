#include "ssh/errors.hpp"
#include "ssh_test_setup.hpp"

#include <doctest/doctest.h>

#include <cerrno>
#include <csignal>
#include <fcntl.h>
#include <functional>
#include <string>
#include <unistd.h>

using lcloud::test::SshServer;
using lcloud::test::SshSetup;
using namespace lcloud::ssh;

namespace {

std::string read_all(int fd) {
    std::string text;
    char buffer[4096];
    ssize_t count;
    while ((count = ::read(fd, buffer, sizeof buffer)) > 0)
        text.append(buffer, count);
    return text;
}

std::string message_of(const std::function<void()>& action) {
    try {
        action();
    } catch (const SshError& error) {
        return error.what();
    }
    FAIL("no SshError");
    return {};
}

} // namespace

TEST_CASE("ssh: capture gives a command's output, errors and exit status") {
    SshSetup setup;
    Session session = Session::connect(setup.target);
    const Session::Result result = session.capture("echo hi; echo err >&2; exit 3");
    CHECK(result.out == "hi\n");
    CHECK(result.err == "err\n");
    CHECK(result.exit_code == 3);
    // One session serves several commands; a moved session still works.
    Session moved = std::move(session);
    CHECK(moved.capture("true").exit_code == 0);
    CHECK(moved.capture("kill -TERM $$").exit_code == 128 + SIGTERM);
}

TEST_CASE("ssh: capture feeds its input, then end of file") {
    SshSetup setup;
    Session session = Session::connect(setup.target);
    CHECK(session.capture("cat", "line one\nline two").out == "line one\nline two");
    CHECK(session.capture("cat").out.empty());
    // More than the SSH windows in both directions at once: no deadlock, nothing lost.
    std::string big;
    for (int i = 0; big.size() < 3 * 1024 * 1024; ++i)
        big += std::to_string(i) + "\n";
    const Session::Result result = session.capture("cat; cat >&2 </dev/null; echo done >&2", big);
    CHECK(result.exit_code == 0);
    CHECK(result.out.size() == big.size());
    CHECK(result.out == big);
    CHECK(result.err == "done\n");
}

TEST_CASE("ssh: run streams between file descriptors") {
    SshSetup setup;
    Session session = Session::connect(setup.target);
    int in[2], out[2], err[2];
    REQUIRE(::pipe2(in, O_CLOEXEC) == 0);
    REQUIRE(::pipe2(out, O_CLOEXEC) == 0);
    REQUIRE(::pipe2(err, O_CLOEXEC) == 0);
    REQUIRE(::write(in[1], "abc\n", 4) == 4);
    ::close(in[1]);
    CHECK(session.run("tr a-z A-Z; echo oops >&2; exit 7", in[0], out[1], err[1]) == 7);
    ::close(in[0]);
    ::close(out[1]);
    ::close(err[1]);
    CHECK(read_all(out[0]) == "ABC\n");
    CHECK(read_all(err[0]) == "oops\n");
    ::close(out[0]);
    ::close(err[0]);

    SUBCASE("no stdin: the command sees end of file") {
        CHECK(session.run("cat; echo $?", -1, -1, -1) == 0);
    }
}

TEST_CASE("ssh: a changed host key is a HostKeyMismatch that names the known_hosts file") {
    SshSetup setup;
    // What a recreated machine looks like: the same address, another key.
    pin_host_key(setup.target.known_hosts, setup.target.host, setup.target.port, setup.public_key);
    try {
        Session::connect(setup.target);
        FAIL("connected");
    } catch (const HostKeyMismatch& error) {
        const std::string message = error.what();
        CHECK(error.known_hosts() == setup.target.known_hosts);
        CHECK(message.find(setup.target.known_hosts.string()) != std::string::npos);
        CHECK(message.find("changed") != std::string::npos);
        CHECK(message.find("lcloud destroy") != std::string::npos);
        CHECK(message.find("SHA256:") != std::string::npos);
    }
}

TEST_CASE("ssh: a server whose key is not pinned is refused") {
    SshSetup setup;
    setup.target.known_hosts = setup.client_dir.path() / "empty_known_hosts";
    CHECK(message_of([&] { Session::connect(setup.target); }).find("not pinned") !=
          std::string::npos);
    // Pinned for another port only: still unknown.
    pin_host_key(setup.target.known_hosts, setup.target.host, 22, setup.server.host_public_key());
    CHECK(message_of([&] { Session::connect(setup.target); }).find("not pinned") !=
          std::string::npos);
}

TEST_CASE("ssh: a key the server does not accept fails the login clearly") {
    SshSetup setup;
    setup.target.identity = setup.client_dir.path() / "other_key";
    ensure_key_pair(setup.target.identity, "other");
    const std::string message = message_of([&] { Session::connect(setup.target); });
    CHECK(message.find("log in as root") != std::string::npos);
    CHECK(message.find(setup.target.identity.string()) != std::string::npos);
}

TEST_CASE("ssh: no server listening is an SshError naming the address") {
    SshSetup setup;
    setup.server.stop();
    setup.target.timeout = std::chrono::milliseconds(2000);
    const std::string message = message_of([&] { Session::connect(setup.target); });
    CHECK(message.find("127.0.0.1:" + std::to_string(setup.target.port)) != std::string::npos);
    CHECK(message.find("connect") != std::string::npos);
}

#include "agent/net_client.hpp"
#include "providers/forward/forward_fixture.hpp"
#include "support/temp_dir.hpp"

#include <csignal>
#include <doctest/doctest.h>
#include <fmt/format.h>

using namespace lcloud;
using namespace lcloud::providers::forward;
using lcloud::test::free_port;
using lcloud::test::tcp_exchange;
using lcloud::test::udp_exchange;

namespace {

std::string agent_binary() {
    return LCLOUD_AGENT_BINARY;
}

bool has_problem(const PortsInUse& error, const std::string& text) {
    for (const auto& problem : error.problems())
        if (problem == text) return true;
    return false;
}

} // namespace

TEST_CASE("forwarder: check_ports_free names who holds a port, and not our own forwarder") {
    test::TempDir dir, other_env;
    test::ForwarderCleanup cleanup(dir.path());
    const uint16_t taken_tcp = free_port(), taken_udp = free_port(SOCK_DGRAM);
    test::PortHolder holder("port-hog", taken_tcp, taken_udp);
    const uint16_t web = free_port(), vm_port = free_port();
    const std::vector<PortForward> wanted{{Protocol::tcp, "", taken_tcp, 80},
                                          {Protocol::udp, "127.0.0.1", taken_udp, 53},
                                          {Protocol::tcp, "", web, vm_port},
                                          {Protocol::tcp, "0.0.0.0", web, vm_port}};
    try {
        check_ports_free(dir.path(), wanted);
        FAIL("no PortsInUse");
    } catch (const PortsInUse& error) {
        CHECK(error.problems().size() == 3);
        CHECK(has_problem(error, fmt::format("127.0.0.1:{}/tcp is already in use by port-hog "
                                             "(pid {})",
                                             taken_tcp, holder.pid())));
        CHECK(has_problem(error, fmt::format("127.0.0.1:{}/udp is already in use by port-hog "
                                             "(pid {})",
                                             taken_udp, holder.pid())));
        CHECK(has_problem(error, fmt::format("0.0.0.0:{}/tcp is published twice (also as "
                                             "127.0.0.1:{}/tcp)",
                                             web, web)));
        CHECK(std::string(error.what()).find("port-hog") != std::string::npos);
    }

    // Our own forwarder's ports are free for us, taken for another environment.
    const std::vector<PortForward> ours{{Protocol::tcp, "", web, vm_port}};
    REQUIRE(start_or_update_forwarder(dir.path(), "127.0.0.1", ours, agent_binary()) ==
            ForwarderChange::started);
    CHECK_NOTHROW(check_ports_free(dir.path(), ours));
    CHECK_NOTHROW(check_ports_free(dir.path(), {{Protocol::tcp, "0.0.0.0", web, vm_port}}));
    try {
        check_ports_free(other_env.path(), ours);
        FAIL("no PortsInUse");
    } catch (const PortsInUse& error) {
        CHECK(error.problems() ==
              std::vector<std::string>{fmt::format("127.0.0.1:{}/tcp is already in use by "
                                                   "lcloud-agent (pid {})",
                                                   web, *forwarder_pid(dir.path()))});
    }
}

TEST_CASE("forwarder: a port it cannot bind is reported, the others are served") {
    test::TempDir dir;
    test::ForwarderCleanup cleanup(dir.path());
    const uint16_t vm_tcp = free_port(), vm_udp = free_port(SOCK_DGRAM);
    test::EchoServer vm(vm_tcp, vm_udp);
    const uint16_t taken = free_port(), web = free_port();
    test::PortHolder holder("port-hog", taken, free_port(SOCK_DGRAM));
    const std::vector<PortForward> forwards{{Protocol::tcp, "", taken, vm_tcp},
                                            {Protocol::tcp, "", web, vm_tcp}};
    try {
        start_or_update_forwarder(dir.path(), "127.0.0.1", forwards, agent_binary());
        FAIL("no ForwarderError");
    } catch (const ForwarderError& error) {
        CHECK(std::string(error.what())
                  .find(fmt::format("127.0.0.1:{}/tcp is already in use by port-hog (pid {})",
                                    taken, holder.pid())) != std::string::npos);
    }
    CHECK(tcp_exchange(web, "served anyway") == "served anyway");
    // Asked again, it tries again (the port is still taken): not "unchanged".
    CHECK_THROWS_AS(start_or_update_forwarder(dir.path(), "127.0.0.1", forwards, agent_binary()),
                    ForwarderError);
}

TEST_CASE("forwarder: stop leaves nothing behind and a killed forwarder is started again") {
    test::TempDir dir;
    test::ForwarderCleanup cleanup(dir.path());
    const uint16_t vm_tcp = free_port(), vm_udp = free_port(SOCK_DGRAM);
    test::EchoServer vm(vm_tcp, vm_udp);
    const uint16_t web = free_port(), dns = free_port(SOCK_DGRAM);
    const std::vector<PortForward> forwards{{Protocol::tcp, "", web, vm_tcp},
                                            {Protocol::udp, "", dns, vm_udp}};
    const auto pid_file = dir.path() / "forwarder.pid";

    CHECK_FALSE(stop_forwarder(dir.path())); // none yet
    REQUIRE(start_or_update_forwarder(dir.path(), "127.0.0.1", forwards, agent_binary()) ==
            ForwarderChange::started);
    const auto first = forwarder_pid(dir.path());
    REQUIRE(first);

    // SIGKILL: the pid file stays, stale; the next call starts a new forwarder.
    REQUIRE(::kill(*first, SIGKILL) == 0);
    CHECK(test::wait_for([&] { return test::processes_naming(dir.path()).empty(); }));
    CHECK(std::filesystem::exists(pid_file));
    CHECK(!forwarder_pid(dir.path()));
    CHECK(start_or_update_forwarder(dir.path(), "127.0.0.1", forwards, agent_binary()) ==
          ForwarderChange::started);
    const auto second = forwarder_pid(dir.path());
    REQUIRE(second);
    CHECK(*second != *first);
    CHECK(tcp_exchange(web, "again") == "again");
    CHECK(udp_exchange(dns, "again") == "again");

    CHECK(stop_forwarder(dir.path()));
    CHECK(test::processes_naming(dir.path()).empty());
    CHECK(!std::filesystem::exists(pid_file));
    CHECK(!std::filesystem::exists(dir.path() / "forwarder.status.json"));
    CHECK(test::bind_loopback(SOCK_STREAM, web)); // no listener left
    CHECK(test::bind_loopback(SOCK_DGRAM, dns));
    CHECK(!tcp_exchange(web, "closed"));
    CHECK_FALSE(stop_forwarder(dir.path()));
}

TEST_CASE("forwarder: a forwarder that cannot start is an error with its reason") {
    test::TempDir dir;
    test::ForwarderCleanup cleanup(dir.path());
    const std::vector<PortForward> forwards{{Protocol::tcp, "", free_port(), 80}};
    CHECK_THROWS_AS(
        start_or_update_forwarder(dir.path(), "127.0.0.1", forwards, dir.path() / "no-such-agent"),
        SystemError);
    CHECK_THROWS_AS(
        start_or_update_forwarder(dir.path(), "not-an-address", forwards, agent_binary()),
        agent::InvalidPortAddress);
    try {
        start_or_update_forwarder(dir.path(), "127.0.0.1", forwards, "/bin/false");
        FAIL("no ForwarderError");
    } catch (const ForwarderError& error) {
        CHECK(std::string(error.what()).find("/bin/false exited with 1") != std::string::npos);
    }
    CHECK(test::processes_naming(dir.path()).empty());
}

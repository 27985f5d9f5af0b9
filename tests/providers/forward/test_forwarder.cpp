#include "agent/net_client.hpp"
#include "providers/forward/forward_fixture.hpp"
#include "state/atomic_file.hpp"
#include "support/temp_dir.hpp"

#include <doctest/doctest.h>

using namespace lcloud;
using namespace lcloud::providers::forward;
using lcloud::test::free_port;
using lcloud::test::tcp_exchange;
using lcloud::test::udp_exchange;

namespace {

// One TCP connection kept open across reloads.
class TcpSession {
  public:
    explicit TcpSession(uint16_t port) : fd_(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0)) {
        const auto address = test::loopback(port);
        connected_ =
            ::connect(fd_.get(), reinterpret_cast<const sockaddr*>(&address), sizeof address) == 0;
    }
    // What comes back for `text`; empty when the connection is closed or silent.
    std::string echo(const std::string& text) {
        if (!connected_ || ::send(fd_.get(), text.data(), text.size(), MSG_NOSIGNAL) < 0) return {};
        std::string answer;
        while (answer.size() < text.size()) {
            pollfd ready{fd_.get(), POLLIN, 0};
            if (::poll(&ready, 1, 3000) <= 0) break;
            char buffer[4096];
            const ssize_t got = ::read(fd_.get(), buffer, sizeof buffer);
            if (got <= 0) break;
            answer.append(buffer, static_cast<size_t>(got));
        }
        return answer;
    }
    // Whether the other end closed it (EOF or reset) within a few seconds.
    bool closed_by_peer() {
        pollfd ready{fd_.get(), POLLIN, 0};
        if (::poll(&ready, 1, 3000) <= 0) return false;
        char byte;
        return ::read(fd_.get(), &byte, 1) <= 0;
    }

  private:
    Fd fd_;
    bool connected_ = false;
};

std::string agent_binary() {
    return LCLOUD_AGENT_BINARY;
}

} // namespace

TEST_CASE("forwarder: one process relays TCP and UDP both ways for several ports") {
    test::TempDir dir;
    test::ForwarderCleanup cleanup(dir.path());
    const uint16_t vm_tcp = free_port(), vm_udp = free_port(SOCK_DGRAM);
    test::EchoServer vm(vm_tcp, vm_udp);
    const uint16_t web = free_port(), api = free_port(), dns = free_port(SOCK_DGRAM);
    // host_ip left empty: 127.0.0.1.
    const std::vector<PortForward> forwards{{Protocol::tcp, "", web, vm_tcp},
                                            {Protocol::tcp, "127.0.0.1", api, vm_tcp},
                                            {Protocol::udp, "", dns, vm_udp}};

    CHECK(start_or_update_forwarder(dir.path(), "127.0.0.1", forwards, agent_binary()) ==
          ForwarderChange::started);
    CHECK(tcp_exchange(web, "hello web") == "hello web");
    CHECK(tcp_exchange(api, "hello api") == "hello api");
    CHECK(udp_exchange(dns, "a datagram") == "a datagram");

    const auto pid = forwarder_pid(dir.path());
    REQUIRE(pid);
    CHECK(test::processes_naming(dir.path()) == std::vector<pid_t>{*pid});
    CHECK(test::port_holder(Protocol::tcp, web) == pid);
    CHECK(test::port_holder(Protocol::tcp, api) == pid);
    CHECK(test::port_holder(Protocol::udp, dns) == pid);

    const auto file = agent::parse_forwards_file(
        state::read_file(dir.path() / "forwards.json").value(), "forwards.json");
    CHECK(file.vm_address == "127.0.0.1");
    CHECK(file.forwards.at(0).host_ip == "127.0.0.1");
    CHECK(file.forwards.at(2).protocol == Protocol::udp);
}

TEST_CASE("forwarder: updates add and remove ports and an unchanged list restarts nothing") {
    test::TempDir dir;
    test::ForwarderCleanup cleanup(dir.path());
    const uint16_t vm_tcp = free_port(), vm_udp = free_port(SOCK_DGRAM);
    test::EchoServer vm(vm_tcp, vm_udp);
    const uint16_t web = free_port(), dns = free_port(SOCK_DGRAM);
    const PortForward web_forward{Protocol::tcp, "", web, vm_tcp};
    const PortForward dns_forward{Protocol::udp, "", dns, vm_udp};

    REQUIRE(start_or_update_forwarder(dir.path(), "127.0.0.1", {web_forward}, agent_binary()) ==
            ForwarderChange::started);
    const auto pid = forwarder_pid(dir.path());
    REQUIRE(pid);
    TcpSession live(web);
    REQUIRE(live.echo("before") == "before");
    CHECK(!udp_exchange(dns, "nobody yet", 200));

    SUBCASE("adding a port serves it and keeps the live connection") {
        CHECK(start_or_update_forwarder(dir.path(), "127.0.0.1", {web_forward, dns_forward},
                                        agent_binary()) == ForwarderChange::reloaded);
        CHECK(forwarder_pid(dir.path()) == pid);
        CHECK(udp_exchange(dns, "now served") == "now served");
        CHECK(live.echo("after the reload") == "after the reload");
        CHECK(tcp_exchange(web, "a new one") == "a new one");

        // The same list again: no signal, no restart, the connection untouched.
        CHECK(start_or_update_forwarder(dir.path(), "127.0.0.1", {web_forward, dns_forward},
                                        agent_binary()) == ForwarderChange::unchanged);
        CHECK(forwarder_pid(dir.path()) == pid);
        CHECK(live.echo("still here") == "still here");
    }
    SUBCASE("removing a port closes it and its connections; the rest stays") {
        REQUIRE(start_or_update_forwarder(dir.path(), "127.0.0.1", {web_forward, dns_forward},
                                          agent_binary()) == ForwarderChange::reloaded);
        CHECK(start_or_update_forwarder(dir.path(), "127.0.0.1", {dns_forward}, agent_binary()) ==
              ForwarderChange::reloaded);
        CHECK(forwarder_pid(dir.path()) == pid);
        CHECK(live.closed_by_peer());
        CHECK(!tcp_exchange(web, "gone"));
        CHECK(test::bind_loopback(SOCK_STREAM, web)); // nobody holds it
        CHECK(udp_exchange(dns, "kept") == "kept");
    }
    SUBCASE("no ports at all stops the forwarder") {
        CHECK(start_or_update_forwarder(dir.path(), "127.0.0.1", {}, agent_binary()) ==
              ForwarderChange::stopped);
        CHECK(!forwarder_pid(dir.path()));
        CHECK(test::processes_naming(dir.path()).empty());
        CHECK(live.closed_by_peer());
    }
}

TEST_CASE("forwarder: keeps listening while the VM is down and relays again once it is back") {
    test::TempDir dir;
    test::ForwarderCleanup cleanup(dir.path());
    const uint16_t vm_tcp = free_port(), vm_udp = free_port(SOCK_DGRAM);
    std::optional<test::EchoServer> vm(std::in_place, vm_tcp, vm_udp);
    const uint16_t web = free_port(), dns = free_port(SOCK_DGRAM);
    const std::vector<PortForward> forwards{{Protocol::tcp, "", web, vm_tcp},
                                            {Protocol::udp, "", dns, vm_udp}};
    REQUIRE(start_or_update_forwarder(dir.path(), "127.0.0.1", forwards, agent_binary()) ==
            ForwarderChange::started);
    const auto pid = forwarder_pid(dir.path());
    REQUIRE(udp_exchange(dns, "up") == "up");

    vm.reset(); // the VM goes down
    CHECK(!tcp_exchange(web, "anyone?"));
    CHECK(!udp_exchange(dns, "anyone?"));
    CHECK(test::port_holder(Protocol::tcp, web) == pid);
    CHECK(test::port_holder(Protocol::udp, dns) == pid);

    vm.emplace(vm_tcp, vm_udp); // and comes back
    CHECK(test::wait_for([&] { return tcp_exchange(web, "back") == "back"; }));
    CHECK(test::wait_for([&] { return udp_exchange(dns, "back", 200) == "back"; }));
    CHECK(forwarder_pid(dir.path()) == pid);
}

#include "agent/ports/port_forwarder.hpp"
#include "support/child_guard.hpp"

#include <algorithm>
#include <arpa/inet.h>
#include <cerrno>
#include <doctest/doctest.h>
#include <fstream>
#include <functional>
#include <netinet/in.h>
#include <optional>
#include <string>
#include <sys/socket.h>
#include <unistd.h>

using namespace lcloud;
using namespace lcloud::agent;
using namespace std::chrono_literals;

namespace {

sockaddr_in loopback(uint16_t port, const char* ip = "127.0.0.1") {
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_port = htons(port);
    ::inet_pton(AF_INET, ip, &address.sin_addr);
    return address;
}

uint16_t port_of(int fd) {
    sockaddr_in address{};
    socklen_t length = sizeof address;
    REQUIRE(::getsockname(fd, reinterpret_cast<sockaddr*>(&address), &length) == 0);
    return ntohs(address.sin_port);
}

// A socket bound to 127.0.0.1 on a port the kernel picks; listening when TCP.
Fd bound_socket(int type, int flags = 0) {
    Fd fd(::socket(AF_INET, type | SOCK_CLOEXEC | flags, 0));
    REQUIRE(fd);
    const auto address = loopback(0);
    REQUIRE(::bind(fd.get(), reinterpret_cast<const sockaddr*>(&address), sizeof address) == 0);
    if (type == SOCK_STREAM) REQUIRE(::listen(fd.get(), 16) == 0);
    return fd;
}

// A port nothing listens on: bound for a moment, then closed.
uint16_t free_port(int type) {
    return port_of(bound_socket(type).get());
}

// Runs the loop, and `step` between rounds, until `done` or 10 s.
bool run_until(
    EventLoop& loop, const std::function<bool()>& done, const std::function<void()>& step = [] {}) {
    const auto deadline = Clock::now() + 10s;
    while (Clock::now() < deadline) {
        step();
        if (done()) return true;
        loop.run_once(5ms);
    }
    return done();
}

// A TCP echo server in a child: echoes every connection, one at a time, and answers its EOF with
// "<EOF>" before closing, so a half-close is seen to pass while the other way still works.
pid_t start_echo_server(int listener) {
    const pid_t pid = ::fork();
    if (pid != 0) return pid;
    for (;;) {
        const int client = ::accept(listener, nullptr, nullptr);
        if (client < 0) ::_exit(1);
        char buffer[65536];
        for (ssize_t got; (got = ::read(client, buffer, sizeof buffer)) > 0;)
            for (ssize_t done = 0; done < got;) {
                const ssize_t written = ::write(client, buffer + done, got - done);
                if (written <= 0) ::_exit(2);
                done += written;
            }
        if (::write(client, "<EOF>", 5) != 5) ::_exit(3);
        ::shutdown(client, SHUT_WR);
        ::close(client);
    }
}

Fd connect_to(uint16_t port, bool nonblocking) {
    Fd fd(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | (nonblocking ? SOCK_NONBLOCK : 0), 0));
    const auto address = loopback(port);
    const int result =
        ::connect(fd.get(), reinterpret_cast<const sockaddr*>(&address), sizeof address);
    REQUIRE((result == 0 || errno == EINPROGRESS));
    return fd;
}

// A client driven alongside the loop: sends `out`, half-closes, collects until EOF or reset.
struct Client {
    Client(Fd connected, std::string to_send) : fd(std::move(connected)), out(std::move(to_send)) {}
    Fd fd;
    std::string out;
    size_t sent = 0;
    std::string in;
    bool eof = false, reset = false, shut = false;

    void step() {
        while (sent < out.size()) {
            const ssize_t written =
                ::send(fd.get(), out.data() + sent, std::min<size_t>(out.size() - sent, 1 << 16),
                       MSG_NOSIGNAL);
            if (written <= 0) break;
            sent += static_cast<size_t>(written);
        }
        if (sent == out.size() && !shut) shut = ::shutdown(fd.get(), SHUT_WR) == 0;
        char buffer[65536];
        while (!eof && !reset) {
            const ssize_t got = ::recv(fd.get(), buffer, sizeof buffer, 0);
            if (got > 0) {
                in.append(buffer, static_cast<size_t>(got));
            } else if (got == 0) {
                eof = true;
            } else {
                reset = errno != EAGAIN;
                break;
            }
        }
    }
    bool closed() const { return eof || reset; }
};

std::string payload(size_t size, uint32_t seed = 12345) {
    std::string out(size, '\0');
    uint32_t state = seed;
    for (char& c : out) {
        state = state * 1103515245 + 12345;
        c = static_cast<char>(state >> 16);
    }
    return out;
}

} // namespace

TEST_CASE("agent ports: TCP is relayed both ways, several MiB intact, half-close passed on") {
    EventLoop loop;
    PortForwarder forwarder(loop);
    Fd target = bound_socket(SOCK_STREAM);
    test::ChildGuard echo(start_echo_server(target.get()));
    const uint16_t port = free_port(SOCK_STREAM);
    forwarder.add({Protocol::tcp, "127.0.0.1", port, "127.0.0.1", port_of(target.get())});
    CHECK(forwarder.list().size() == 1);

    Client small{connect_to(port, true), "hello"};
    CHECK(run_until(
        loop, [&] { return small.closed(); }, [&] { small.step(); }));
    // The echo server only writes "<EOF>" after the client's FIN reached it, and the client only
    // sees its own EOF after the server's.
    CHECK(small.in == "hello<EOF>");
    CHECK(small.eof);

    const std::string big = payload(6 << 20);
    Client large{connect_to(port, true), big};
    CHECK(run_until(
        loop, [&] { return large.closed(); }, [&] { large.step(); }));
    CHECK(large.eof);
    CHECK(large.in.size() == big.size() + 5);
    CHECK((large.in == big + "<EOF>"));
    CHECK(run_until(loop, [&] { return forwarder.relays() == 0; }));

    // Connections at the same time keep their bytes apart (the echo server takes them in turn).
    std::vector<Client> clients;
    for (uint32_t seed = 1; seed <= 3; ++seed)
        clients.emplace_back(connect_to(port, true), payload(300 << 10, seed));
    const auto all_closed = [&] {
        return std::all_of(clients.begin(), clients.end(), [](auto& c) { return c.closed(); });
    };
    CHECK(run_until(loop, all_closed, [&] {
        for (auto& client : clients)
            client.step();
    }));
    for (uint32_t seed = 1; seed <= 3; ++seed)
        CHECK((clients[seed - 1].in == payload(300 << 10, seed) + "<EOF>"));
}

TEST_CASE("agent ports: a target that refuses closes the client") {
    EventLoop loop;
    PortForwarder forwarder(loop);
    const uint16_t port = free_port(SOCK_STREAM);
    forwarder.add({Protocol::tcp, "127.0.0.1", port, "127.0.0.1", free_port(SOCK_STREAM)});
    Client client{connect_to(port, true), "anyone there?"};
    CHECK(run_until(
        loop, [&] { return client.closed(); }, [&] { client.step(); }));
    CHECK(client.in.empty());
    CHECK(forwarder.relays() == 0);
}

TEST_CASE("agent ports: remove closes the listener and its live connections") {
    EventLoop loop;
    PortForwarder forwarder(loop);
    Fd target = bound_socket(SOCK_STREAM);
    test::ChildGuard echo(start_echo_server(target.get()));
    const uint16_t port = free_port(SOCK_STREAM);
    const Forward forward{Protocol::tcp, "127.0.0.1", port, "127.0.0.1", port_of(target.get())};
    forwarder.add(forward);

    // A live connection that never half-closes: send without shutting down.
    Client live{connect_to(port, true), ""};
    live.shut = true;
    REQUIRE(::send(live.fd.get(), "ping", 4, MSG_NOSIGNAL) == 4);
    CHECK(run_until(
        loop, [&] { return live.in == "ping"; }, [&] { live.step(); }));
    CHECK(forwarder.relays() == 1);

    forwarder.remove(forward);
    CHECK(forwarder.list().empty());
    CHECK(forwarder.relays() == 0);
    CHECK(run_until(
        loop, [&] { return live.closed(); }, [&] { live.step(); }));
    Fd again(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
    const auto address = loopback(port);
    CHECK(::connect(again.get(), reinterpret_cast<const sockaddr*>(&address), sizeof address) != 0);
    CHECK(errno == ECONNREFUSED);
}

TEST_CASE("agent ports: UDP requests and replies pass, each client gets its own") {
    EventLoop loop;
    PortForwarder forwarder(loop, 300ms);
    // The target: replies "echo:" + the datagram, and notes who sent it.
    Fd target = bound_socket(SOCK_DGRAM, SOCK_NONBLOCK);
    std::vector<uint16_t> senders;
    const auto serve_target = [&] {
        char buffer[2048];
        sockaddr_in from{};
        socklen_t length = sizeof from;
        for (ssize_t got; (got = ::recvfrom(target.get(), buffer, sizeof buffer, 0,
                                            reinterpret_cast<sockaddr*>(&from), &length)) > 0;
             length = sizeof from) {
            senders.push_back(ntohs(from.sin_port));
            const std::string reply = "echo:" + std::string(buffer, static_cast<size_t>(got));
            ::sendto(target.get(), reply.data(), reply.size(), 0,
                     reinterpret_cast<sockaddr*>(&from), length);
        }
    };
    const uint16_t port = free_port(SOCK_DGRAM);
    forwarder.add({Protocol::udp, "127.0.0.1", port, "127.0.0.1", port_of(target.get())});

    Fd first = bound_socket(SOCK_DGRAM, SOCK_NONBLOCK);
    Fd second = bound_socket(SOCK_DGRAM, SOCK_NONBLOCK);
    const auto published = loopback(port);
    const auto ask = [&](int fd, const std::string& text) {
        REQUIRE(::sendto(fd, text.data(), text.size(), 0,
                         reinterpret_cast<const sockaddr*>(&published),
                         sizeof published) == static_cast<ssize_t>(text.size()));
    };
    std::string first_reply, second_reply;
    const auto read_replies = [&] {
        char buffer[2048];
        for (ssize_t got; (got = ::recv(first.get(), buffer, sizeof buffer, 0)) > 0;)
            first_reply += std::string(buffer, static_cast<size_t>(got)) + ";";
        for (ssize_t got; (got = ::recv(second.get(), buffer, sizeof buffer, 0)) > 0;)
            second_reply += std::string(buffer, static_cast<size_t>(got)) + ";";
    };
    ask(first.get(), "one");
    ask(second.get(), "two");
    ask(first.get(), "three");
    CHECK(run_until(
        loop, [&] { return first_reply.size() + second_reply.size() >= 29; },
        [&] {
            serve_target();
            read_replies();
        }));
    CHECK(first_reply == "echo:one;echo:three;");
    CHECK(second_reply == "echo:two;");
    CHECK(forwarder.relays() == 2);
    REQUIRE(senders.size() == 3);
    CHECK(senders[0] == senders[2]); // one session socket per client
    CHECK(senders[0] != senders[1]);

    // Idle sessions end; the next datagram gets a new one.
    CHECK(run_until(loop, [&] { return forwarder.relays() == 0; }));
    ask(first.get(), "four");
    CHECK(run_until(
        loop, [&] { return first_reply.size() >= 30; },
        [&] {
            serve_target();
            read_replies();
        }));
    CHECK(first_reply == "echo:one;echo:three;echo:four;");
    REQUIRE(senders.size() == 4);
    CHECK(senders[3] != senders[0]);
}

TEST_CASE("agent ports: a taken port is refused, naming the process that holds it") {
    EventLoop loop;
    PortForwarder forwarder(loop);
    std::string name;
    std::getline(std::ifstream("/proc/self/comm"), name);
    const std::string holder = " by " + name + " (pid " + std::to_string(::getpid()) + ")";
    Fd tcp_holder = bound_socket(SOCK_STREAM);
    const uint16_t tcp_port = port_of(tcp_holder.get());
    const Forward tcp{Protocol::tcp, "127.0.0.1", tcp_port, "127.0.0.1", 80};
    std::string message;
    try {
        forwarder.add(tcp);
    } catch (const PortInUse& error) {
        message = error.what();
    }
    CHECK(message == "127.0.0.1:" + std::to_string(tcp_port) + "/tcp is already in use" + holder);
    CHECK(forwarder.list().empty());

    Fd udp_holder = bound_socket(SOCK_DGRAM);
    const uint16_t udp_port = port_of(udp_holder.get());
    // Held on 127.0.0.1, refused for every address that includes it.
    const Forward udp{Protocol::udp, "0.0.0.0", udp_port, "127.0.0.1", 53};
    CHECK_THROWS_WITH_AS(
        forwarder.add(udp),
        ("0.0.0.0:" + std::to_string(udp_port) + "/udp is already in use" + holder).c_str(),
        PortInUse);

    const uint16_t free = free_port(SOCK_STREAM);
    const Forward open{Protocol::tcp, "127.0.0.1", free, "", 0};
    const auto unavailable = unavailable_ports({tcp, open, udp});
    REQUIRE(unavailable.size() == 2);
    CHECK(unavailable[0] == message);
    CHECK(unavailable[1] ==
          "0.0.0.0:" + std::to_string(udp_port) + "/udp is already in use" + holder);
    CHECK(unavailable_ports({open}).empty());
    // The check held nothing: the port can be published right after.
    forwarder.add({Protocol::tcp, "127.0.0.1", free, "127.0.0.1", 80});
    CHECK(forwarder.list().size() == 1);
    // Still, a list naming one port twice cannot all be bound.
    const auto twice = unavailable_ports({open, {Protocol::tcp, "0.0.0.0", free, "", 0}});
    CHECK(twice.size() == 2); // held by the forwarder now, and named twice
}

TEST_CASE("agent ports: addresses that are not IPs are refused with what is right") {
    EventLoop loop;
    PortForwarder forwarder(loop);
    CHECK_THROWS_WITH_AS(
        forwarder.add({Protocol::tcp, "localhost", 8080, "10.0.0.2", 80}),
        "the host IP of a published port \"localhost\" is not an IP address; write it as digits, "
        "like 127.0.0.1 or ::1",
        InvalidPortAddress);
    CHECK(unavailable_ports({{Protocol::tcp, "192.0.2.1", free_port(SOCK_STREAM), "", 0}})
              .at(0)
              .find("192.0.2.1 is not an address of this host") != std::string::npos);
}

TEST_CASE("agent ports: an IPv6 host address is published, and its holder named when taken") {
    EventLoop loop;
    PortForwarder forwarder(loop);
    Fd target = bound_socket(SOCK_STREAM);
    test::ChildGuard echo(start_echo_server(target.get()));

    Fd holder(::socket(AF_INET6, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0));
    sockaddr_in6 address{};
    address.sin6_family = AF_INET6;
    address.sin6_addr = in6addr_loopback;
    socklen_t length = sizeof address;
    REQUIRE(::bind(holder.get(), reinterpret_cast<sockaddr*>(&address), length) == 0);
    REQUIRE(::listen(holder.get(), 4) == 0);
    REQUIRE(::getsockname(holder.get(), reinterpret_cast<sockaddr*>(&address), &length) == 0);
    const uint16_t taken = ntohs(address.sin6_port);
    std::string name;
    std::getline(std::ifstream("/proc/self/comm"), name);
    CHECK_THROWS_WITH_AS(forwarder.add({Protocol::tcp, "::1", taken, "127.0.0.1", 80}),
                         ("[::1]:" + std::to_string(taken) + "/tcp is already in use by " + name +
                          " (pid " + std::to_string(::getpid()) + ")")
                             .c_str(),
                         PortInUse);

    // Once free, the port is published on ::1 and relayed to the IPv4 target.
    holder.reset();
    forwarder.add({Protocol::tcp, "::1", taken, "127.0.0.1", port_of(target.get())});
    Fd client(::socket(AF_INET6, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0));
    const int result =
        ::connect(client.get(), reinterpret_cast<const sockaddr*>(&address), sizeof address);
    REQUIRE((result == 0 || errno == EINPROGRESS));
    Client six(std::move(client), "over six");
    CHECK(run_until(
        loop, [&] { return six.closed(); }, [&] { six.step(); }));
    CHECK(six.in == "over six<EOF>");
}

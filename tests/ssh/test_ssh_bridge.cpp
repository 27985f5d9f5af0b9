// An SSH direct-tcpip channel as an ordinary socket (ChannelBridge), against dropbear and a TCP
// echo server on loopback: bytes both ways, and the end of either side ends the other.
#include "common/fd.hpp"
#include "ssh/channel_bridge.hpp"
#include "ssh/errors.hpp"
#include "ssh_test_setup.hpp"

#include <doctest/doctest.h>

#include <netinet/in.h>
#include <sys/socket.h>
#include <thread>
#include <unistd.h>

using namespace lcloud;

namespace {

// Listens on 127.0.0.1 and a free port; serves one client on a thread: echoes until EOF (or
// hangs up after `hang_up_after` bytes), then records what it got.
class EchoServer {
  public:
    explicit EchoServer(size_t hang_up_after = 0) {
        listener_ = Fd(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
        sockaddr_in address{};
        address.sin_family = AF_INET;
        address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        REQUIRE(::bind(listener_.get(), reinterpret_cast<sockaddr*>(&address), sizeof address) ==
                0);
        socklen_t length = sizeof address;
        ::getsockname(listener_.get(), reinterpret_cast<sockaddr*>(&address), &length);
        port_ = ntohs(address.sin_port);
        REQUIRE(::listen(listener_.get(), 1) == 0);
        thread_ = std::thread([this, hang_up_after] {
            const Fd client(::accept(listener_.get(), nullptr, nullptr));
            char buffer[65536];
            ssize_t got;
            while ((got = ::read(client.get(), buffer, sizeof buffer)) > 0) {
                received_ += static_cast<size_t>(got);
                for (ssize_t done = 0; done < got;) {
                    const ssize_t written = ::write(client.get(), buffer + done, got - done);
                    if (written <= 0) return;
                    done += written;
                }
                if (hang_up_after && received_ >= hang_up_after) return;
            }
            saw_eof_ = got == 0;
        });
    }
    ~EchoServer() {
        if (thread_.joinable()) thread_.join();
    }
    uint16_t port() const { return port_; }
    // After the client is gone.
    size_t received() {
        thread_.join();
        return received_;
    }
    bool saw_eof() const { return saw_eof_; }

  private:
    Fd listener_;
    uint16_t port_ = 0;
    std::thread thread_;
    size_t received_ = 0;
    bool saw_eof_ = false;
};

std::string read_exactly(int fd, size_t size) {
    std::string out;
    char buffer[65536];
    while (out.size() < size) {
        const ssize_t got = ::read(fd, buffer, std::min(sizeof buffer, size - out.size()));
        if (got <= 0) break;
        out.append(buffer, static_cast<size_t>(got));
    }
    return out;
}

} // namespace

TEST_CASE("ssh bridge: a direct-tcpip channel carries bytes both ways, and closing ends it") {
    test::TempDir client_dir;
    const auto public_key = ssh::ensure_key_pair(client_dir.path() / "id_ed25519", "test");
    test::SshServer server(public_key, {}, true);
    ssh::Target target;
    target.host = server.host();
    target.port = server.port();
    target.identity = client_dir.path() / "id_ed25519";
    target.known_hosts = client_dir.path() / "known_hosts";
    ssh::pin_host_key(target.known_hosts, target.host, target.port, server.host_public_key());

    SUBCASE("much more than a window and a socket buffer, echoed while it is written") {
        EchoServer echo;
        auto session = ssh::Session::connect(target);
        auto channel = session.open_forward("127.0.0.1", echo.port());
        auto bridge = std::make_unique<ssh::ChannelBridge>(std::move(session), std::move(channel));
        Fd socket = bridge->take_socket();
        std::string sent(8 << 20, '\0');
        for (size_t i = 0; i < sent.size(); ++i)
            sent[i] = static_cast<char>('a' + i % 23);
        std::thread writer([&] {
            for (size_t done = 0; done < sent.size();) {
                const ssize_t written = ::write(socket.get(), sent.data() + done,
                                                std::min<size_t>(100000, sent.size() - done));
                REQUIRE(written > 0);
                done += static_cast<size_t>(written);
            }
        });
        const std::string echoed = read_exactly(socket.get(), sent.size());
        writer.join();
        CHECK(echoed == sent);
        // Our end closed: the server sees end of file, the bridge ends by itself.
        socket.reset();
        CHECK(echo.received() == sent.size());
        CHECK(echo.saw_eof());
        bridge.reset();
    }
    SUBCASE("the far end hanging up is end of file here") {
        EchoServer echo(5);
        auto session = ssh::Session::connect(target);
        auto channel = session.open_forward("127.0.0.1", echo.port());
        ssh::ChannelBridge bridge(std::move(session), std::move(channel));
        Fd socket = bridge.take_socket();
        REQUIRE(::write(socket.get(), "hello", 5) == 5);
        CHECK(read_exactly(socket.get(), 5) == "hello");
        char byte;
        CHECK(::read(socket.get(), &byte, 1) == 0);
        CHECK(bridge.failure().empty());
    }
    SUBCASE("a port nobody listens on is an SshError naming it") {
        uint16_t port = 0;
        {
            // A port that was free a moment ago, and is again.
            const Fd probe(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
            sockaddr_in address{};
            address.sin_family = AF_INET;
            address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
            REQUIRE(::bind(probe.get(), reinterpret_cast<sockaddr*>(&address), sizeof address) ==
                    0);
            socklen_t length = sizeof address;
            ::getsockname(probe.get(), reinterpret_cast<sockaddr*>(&address), &length);
            port = ntohs(address.sin_port);
        }
        auto session = ssh::Session::connect(target);
        std::string message;
        try {
            session.open_forward("127.0.0.1", port);
        } catch (const ssh::SshError& error) {
            message = error.what();
        }
        CHECK(message.find("127.0.0.1:" + std::to_string(port)) != std::string::npos);
    }
    // A bridge that is destroyed while its channel is idle stops at once.
    SUBCASE("destroying an idle bridge") {
        EchoServer echo;
        auto session = ssh::Session::connect(target);
        auto channel = session.open_forward("127.0.0.1", echo.port());
        auto bridge = std::make_unique<ssh::ChannelBridge>(std::move(session), std::move(channel));
        Fd socket = bridge->take_socket();
        bridge.reset();
        char byte;
        CHECK(::read(socket.get(), &byte, 1) == 0);
    }
}

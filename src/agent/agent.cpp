#include "agent/agent.hpp"

#include "agent/dns/dns_server.hpp"
#include "agent/ports/port_forwarder.hpp"
#include "agent/ports/socket_address.hpp"
#include "agent/protocol/protocol.hpp"
#include "agent/server/session.hpp"
#include "agent/server/streams.hpp"
#include "runtime/container/state.hpp"
#include "runtime/image/store.hpp"
#include "runtime/network/network.hpp"

#include <csignal>
#include <cstdlib>
#include <fcntl.h>
#include <fmt/format.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <spdlog/spdlog.h>
#include <sys/epoll.h>
#include <sys/file.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

namespace lcloud::agent {

namespace fs = std::filesystem;

namespace {

Fd lock_root(const fs::path& root) {
    fs::create_directories(root);
    const fs::path path = root / "agent.lock";
    Fd fd(::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600));
    if (!fd) throw_errno("open", path.string());
    if (::flock(fd.get(), LOCK_EX | LOCK_NB) != 0) {
        char holder[32] = {};
        (void)!::pread(fd.get(), holder, sizeof holder - 1, 0);
        throw AgentError("busy",
                         fmt::format("another lcloud-agent (pid {}) serves {}; reach it "
                                     "with 'lcloud-agent attach', or stop it",
                                     std::string(holder).empty() ? "?" : holder, root.string()));
    }
    const std::string pid = std::to_string(::getpid());
    (void)!::ftruncate(fd.get(), 0);
    (void)!::pwrite(fd.get(), pid.data(), pid.size(), 0);
    return fd;
}

} // namespace

Agent::Agent(AgentOptions options) : options_(std::move(options)), lock_(lock_root(options_.root)) {
    const AgentPaths paths{options_.root};
    runtime::image::StoreOptions store_options;
    store_options.durable = options_.durable_images;
    images_ = std::make_unique<runtime::image::Store>(paths.images(), store_options);
    fs::create_directories(paths.runtime());
    runtime_ = std::make_unique<runtime::StateStore>(paths.runtime());
    runtime::network::PlanOptions plan;
    plan.state_dir = paths.networks();
    fs::create_directories(plan.state_dir);
    networks_ = std::make_unique<runtime::network::Networks>(plan);
    ports_ = std::make_unique<PortForwarder>(loop_);
    dns_ = std::make_unique<DnsServer>(loop_, read_upstreams());
    supervisor_ = std::make_unique<Supervisor>(
        SupervisorServices{loop_, *images_, *runtime_, *networks_, *ports_, *dns_, paths});

    // Writes to a client that left must not kill us.
    ::signal(SIGPIPE, SIG_IGN);
    sigset_t mask;
    sigemptyset(&mask);
    sigaddset(&mask, SIGTERM);
    sigaddset(&mask, SIGINT);
    ::sigprocmask(SIG_BLOCK, &mask, nullptr);
    signals_ = Fd(::signalfd(-1, &mask, SFD_CLOEXEC | SFD_NONBLOCK));
    loop_.watch(signals_.get(), EPOLLIN, [this](uint32_t) {
        signalfd_siginfo info{};
        while (::read(signals_.get(), &info, sizeof info) == sizeof info) {
            spdlog::info("agent: signal {}; leaving the containers running", info.ssi_signo);
            loop_.stop();
        }
    });
    supervisor_->recover();
    // Once serving: under TCG a network's bridge and rules take a while, which the host's SSH
    // handshake then hides.
    loop_.after(Clock::duration(0), [this] { supervisor_->prepare_networks(); });
}

Agent::~Agent() {
    sessions_.clear();
    supervisor_.reset();
    if (listener_) {
        loop_.unwatch(listener_.get());
        std::error_code ignored;
        fs::remove(socket_path_, ignored);
    }
    if (tcp_listener_) loop_.unwatch(tcp_listener_.get());
    loop_.unwatch(signals_.get());
}

void Agent::listen(const fs::path& path) {
    fs::create_directories(path.parent_path());
    sockaddr_un address{};
    address.sun_family = AF_UNIX;
    if (path.string().size() >= sizeof address.sun_path)
        throw Error(fmt::format("{}: a unix socket path must be shorter than {} bytes",
                                path.string(), sizeof address.sun_path));
    std::strcpy(address.sun_path, path.c_str());
    // We hold the root's lock, so a socket file there is a dead agent's.
    std::error_code ignored;
    fs::remove(path, ignored);
    listener_ = Fd(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0));
    if (!listener_) throw_errno("socket", path.string());
    if (::bind(listener_.get(), reinterpret_cast<sockaddr*>(&address), sizeof address) != 0)
        throw_errno("bind", path.string());
    ::chmod(path.c_str(), 0600);
    if (::listen(listener_.get(), 64) != 0) throw_errno("listen", path.string());
    socket_path_ = path;
    loop_.watch(listener_.get(), EPOLLIN, [this](uint32_t) { accept_clients(listener_.get()); });
}

void Agent::listen_tcp(const std::string& address) {
    const auto colon = address.rfind(':');
    int port = 0;
    if (colon != std::string::npos) port = std::atoi(address.c_str() + colon + 1);
    if (colon == std::string::npos || port <= 0 || port > 65535)
        throw Error(fmt::format("--listen-tcp {}: expected ADDRESS:PORT", address));
    std::string ip = address.substr(0, colon);
    if (ip.size() > 2 && ip.front() == '[' && ip.back() == ']') ip = ip.substr(1, ip.size() - 2);
    const auto where = parse_socket_address(ip, static_cast<uint16_t>(port), "--listen-tcp");
    tcp_listener_ = Fd(::socket(where.family(), SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0));
    if (!tcp_listener_) throw_errno("socket", address);
    const int yes = 1;
    ::setsockopt(tcp_listener_.get(), SOL_SOCKET, SO_REUSEADDR, &yes, sizeof yes);
    if (::bind(tcp_listener_.get(), where.get(), where.length) != 0) throw_errno("bind", address);
    if (::listen(tcp_listener_.get(), 64) != 0) throw_errno("listen", address);
    loop_.watch(tcp_listener_.get(), EPOLLIN,
                [this](uint32_t) { accept_clients(tcp_listener_.get()); });
}

void Agent::accept_clients(int listener) {
    for (;;) {
        Fd client(::accept4(listener, nullptr, nullptr, SOCK_CLOEXEC | SOCK_NONBLOCK));
        if (!client) return;
        // Small request and response lines: Nagle would hold each one for the peer's ACK.
        // (A unix socket refuses the option; that is harmless.)
        const int nodelay = 1;
        ::setsockopt(client.get(), IPPROTO_TCP, TCP_NODELAY, &nodelay, sizeof nodelay);
        auto session = std::make_unique<Session>(*this, loop_, std::move(client), Fd());
        Session* key = session.get();
        sessions_[key] = std::move(session);
    }
}

void Agent::serve_stdio(int input, int output) {
    stdio_session_ = true;
    auto session = std::make_unique<Session>(*this, loop_, Fd(::dup(input)), Fd(::dup(output)));
    Session* key = session.get();
    sessions_[key] = std::move(session);
}

void Agent::run() {
    loop_.run();
}

void Agent::session_closed(Session* session) {
    sessions_.erase(session);
    if (stdio_session_ && sessions_.empty()) loop_.stop();
    check_idle();
}

void Agent::check_idle() {
    if (options_.exit_when_empty && sessions_.empty() && jobs_ == 0 && supervisor_->empty()) {
        spdlog::info("agent: no containers and no clients left; exiting");
        loop_.stop();
    }
}

} // namespace lcloud::agent

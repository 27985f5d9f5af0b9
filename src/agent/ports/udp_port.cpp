#include "agent/ports/published_port.hpp"

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <map>
#include <optional>
#include <spdlog/spdlog.h>
#include <sys/epoll.h>
#include <sys/socket.h>

namespace lcloud::agent {

namespace {

constexpr size_t max_datagram = 65536;
constexpr int datagrams_per_event = 64;
// Each session holds a socket; past this many the least recently used one makes room.
constexpr size_t max_sessions = 4096;

// Datagrams from each client address go out through a socket of their own, connected to the
// target, so that the target's replies can be told apart and sent back to the right client.
class UdpPort : public PublishedPort {
  public:
    UdpPort(EventLoop& loop, Fd socket, SocketAddress target, std::string name,
            Clock::duration idle)
        : loop_(loop), socket_(std::move(socket)), target_(target), name_(std::move(name)),
          idle_(idle), buffer_(new char[max_datagram]) {
        loop_.watch(socket_.get(), EPOLLIN, [this](uint32_t) { on_requests(); });
    }

    ~UdpPort() override {
        if (sweep_) loop_.cancel(*sweep_);
        loop_.unwatch(socket_.get());
        for (auto& [key, session] : sessions_)
            loop_.unwatch(session->socket.get());
    }

    size_t relays() const override { return sessions_.size(); }

  private:
    struct Session {
        Fd socket;
        SocketAddress client;
        Clock::time_point last;
    };

    void on_requests() {
        for (int count = 0; count < datagrams_per_event; ++count) {
            SocketAddress client;
            client.length = sizeof client.storage;
            const ssize_t got = ::recvfrom(socket_.get(), buffer_.get(), max_datagram, 0,
                                           client.get(), &client.length);
            if (got < 0) {
                if (errno == EINTR) continue;
                return; // EAGAIN, or an error that a later datagram will not have
            }
            Session* session = session_for(client);
            if (!session) continue;
            session->last = Clock::now();
            if (::send(session->socket.get(), buffer_.get(), static_cast<size_t>(got), 0) < 0 &&
                errno == ECONNREFUSED) // an earlier datagram's ICMP error, reported now
                ::send(session->socket.get(), buffer_.get(), static_cast<size_t>(got), 0);
        }
    }

    void on_replies(const std::string& key) {
        const auto found = sessions_.find(key);
        if (found == sessions_.end()) return;
        Session& session = *found->second;
        for (int count = 0; count < datagrams_per_event; ++count) {
            const ssize_t got = ::recv(session.socket.get(), buffer_.get(), max_datagram, 0);
            if (got < 0) {
                // ECONNREFUSED: nothing listens in the container; the error is consumed.
                if (errno == EINTR || errno == ECONNREFUSED) continue;
                return;
            }
            session.last = Clock::now();
            ::sendto(socket_.get(), buffer_.get(), static_cast<size_t>(got), 0,
                     session.client.get(), session.client.length);
        }
    }

    Session* session_for(const SocketAddress& client) {
        const std::string key = client.key();
        const auto found = sessions_.find(key);
        if (found != sessions_.end()) return found->second.get();
        if (sessions_.size() >= max_sessions) {
            const auto oldest = std::min_element(
                sessions_.begin(), sessions_.end(),
                [](const auto& a, const auto& b) { return a.second->last < b.second->last; });
            drop(oldest);
        }
        auto session = std::make_unique<Session>();
        session->client = client;
        session->last = Clock::now();
        session->socket =
            Fd(::socket(target_.family(), SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
        if (!session->socket ||
            ::connect(session->socket.get(), target_.get(), target_.length) != 0) {
            spdlog::warn("published port {}: a session socket to the container: {}", name_,
                         std::strerror(errno));
            return nullptr;
        }
        try {
            loop_.watch(session->socket.get(), EPOLLIN, [this, key](uint32_t) { on_replies(key); });
        } catch (const std::exception& error) {
            spdlog::warn("published port {}: {}", name_, error.what());
            return nullptr;
        }
        Session* raw = session.get();
        sessions_.emplace(key, std::move(session));
        schedule_sweep(raw->last + idle_);
        return raw;
    }

    void drop(std::map<std::string, std::unique_ptr<Session>>::iterator session) {
        loop_.unwatch(session->second->socket.get());
        sessions_.erase(session);
    }

    void schedule_sweep(Clock::time_point at) {
        if (sweep_) return; // due no later than `at`: every session expires after the older ones
        sweep_ = loop_.after(at - Clock::now(), [this] {
            sweep_.reset();
            sweep();
        });
    }

    void sweep() {
        const auto now = Clock::now();
        std::optional<Clock::time_point> next;
        for (auto it = sessions_.begin(); it != sessions_.end();) {
            const auto expiry = it->second->last + idle_;
            if (expiry <= now) {
                drop(it++);
                continue;
            }
            next = next ? std::min(*next, expiry) : expiry;
            ++it;
        }
        if (next) schedule_sweep(*next);
    }

    EventLoop& loop_;
    Fd socket_;
    SocketAddress target_;
    std::string name_;
    Clock::duration idle_;
    std::unique_ptr<char[]> buffer_;
    std::map<std::string, std::unique_ptr<Session>> sessions_; // by the client's address
    std::optional<EventLoop::TimerId> sweep_;
};

} // namespace

std::unique_ptr<PublishedPort> serve_udp(EventLoop& loop, Fd socket, SocketAddress target,
                                         std::string name, Clock::duration idle) {
    return std::make_unique<UdpPort>(loop, std::move(socket), target, std::move(name), idle);
}

} // namespace lcloud::agent

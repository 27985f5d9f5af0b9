#include "agent/ports/published_port.hpp"
#include "agent/ports/tcp_relay.hpp"

#include <cerrno>
#include <cstring>
#include <map>
#include <optional>
#include <spdlog/spdlog.h>
#include <sys/epoll.h>
#include <sys/socket.h>

namespace lcloud::agent {

namespace {

using namespace std::chrono_literals;

class TcpPort : public PublishedPort {
  public:
    TcpPort(EventLoop& loop, Fd listener, SocketAddress target, std::string name)
        : loop_(loop), listener_(std::move(listener)), target_(target), name_(std::move(name)) {
        resume();
    }

    ~TcpPort() override {
        if (paused_)
            loop_.cancel(*paused_);
        else
            loop_.unwatch(listener_.get());
        relays_.clear();
    }

    size_t relays() const override { return relays_.size(); }

  private:
    void resume() {
        paused_.reset();
        loop_.watch(listener_.get(), EPOLLIN, [this](uint32_t) { accept_all(); });
    }

    void accept_all() {
        for (int accepted = 0; accepted < 64; ++accepted) {
            Fd client(::accept4(listener_.get(), nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC));
            if (!client) {
                if (errno == EAGAIN || errno == EWOULDBLOCK) return;
                if (errno == EINTR || errno == ECONNABORTED || errno == EPROTO) continue;
                // Out of fds or memory: the listener would fire on every round, so rest a while.
                spdlog::warn("published port {}: accept: {}; retrying in a second", name_,
                             std::strerror(errno));
                loop_.unwatch(listener_.get());
                paused_ = loop_.after(1s, [this] { resume(); });
                return;
            }
            const uint64_t id = next_id_++;
            try {
                auto relay = std::make_unique<TcpRelay>(loop_, std::move(client), target_,
                                                        [this, id] { relays_.erase(id); });
                if (!relay->done()) relays_.emplace(id, std::move(relay));
            } catch (const std::exception& error) {
                spdlog::warn("published port {}: {}", name_, error.what());
            }
        }
    }

    EventLoop& loop_;
    Fd listener_;
    SocketAddress target_;
    std::string name_;
    std::map<uint64_t, std::unique_ptr<TcpRelay>> relays_;
    uint64_t next_id_ = 1;
    std::optional<EventLoop::TimerId> paused_;
};

} // namespace

std::unique_ptr<PublishedPort> serve_tcp(EventLoop& loop, Fd listener, SocketAddress target,
                                         std::string name) {
    return std::make_unique<TcpPort>(loop, std::move(listener), target, std::move(name));
}

} // namespace lcloud::agent

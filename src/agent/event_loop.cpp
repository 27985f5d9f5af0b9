#include "agent/event_loop.hpp"

#include "common/error.hpp"

#include <algorithm>
#include <cerrno>
#include <fcntl.h>
#include <sys/epoll.h>
#include <vector>

namespace lcloud::agent {

struct EventLoop::Watch {
    int fd;
    FdHandler handler;
    bool removed = false;
};

EventLoop::EventLoop() : epoll_(::epoll_create1(EPOLL_CLOEXEC)) {
    if (!epoll_) throw_errno("epoll_create1", "the agent's event loop");
}

EventLoop::~EventLoop() = default;

void EventLoop::watch(int fd, uint32_t events, FdHandler handler) {
    auto found = watches_.find(fd);
    if (found != watches_.end()) {
        found->second->removed = true;
        found->second = std::make_shared<Watch>(Watch{fd, std::move(handler)});
        epoll_event event{};
        event.events = events;
        event.data.fd = fd;
        if (::epoll_ctl(epoll_.get(), EPOLL_CTL_MOD, fd, &event) == 0) return;
        // The old fd was closed without unwatch and this is a new file with its number: the
        // kernel dropped the old registration, so add this one.
        if (errno != ENOENT) throw_errno("epoll_ctl(MOD)", "fd " + std::to_string(fd));
        if (::epoll_ctl(epoll_.get(), EPOLL_CTL_ADD, fd, &event) != 0) {
            watches_.erase(fd);
            throw_errno("epoll_ctl(ADD)", "fd " + std::to_string(fd));
        }
        return;
    }
    epoll_event event{};
    event.events = events;
    event.data.fd = fd;
    if (::epoll_ctl(epoll_.get(), EPOLL_CTL_ADD, fd, &event) != 0)
        throw_errno("epoll_ctl(ADD)", "fd " + std::to_string(fd));
    watches_[fd] = std::make_shared<Watch>(Watch{fd, std::move(handler)});
}

void EventLoop::modify(int fd, uint32_t events) {
    epoll_event event{};
    event.events = events;
    event.data.fd = fd;
    if (::epoll_ctl(epoll_.get(), EPOLL_CTL_MOD, fd, &event) != 0)
        throw_errno("epoll_ctl(MOD)", "fd " + std::to_string(fd));
}

void EventLoop::unwatch(int fd) {
    auto found = watches_.find(fd);
    if (found == watches_.end()) return;
    found->second->removed = true;
    watches_.erase(found);
    // The fd may already be closed by its owner; then the kernel has dropped it by itself.
    ::epoll_ctl(epoll_.get(), EPOLL_CTL_DEL, fd, nullptr);
}

bool EventLoop::watching(int fd) const {
    return watches_.count(fd) != 0;
}

EventLoop::TimerId EventLoop::after(Clock::duration delay, TimerHandler handler) {
    const TimerId id = next_timer_++;
    timers_.emplace(Clock::now() + delay, std::make_pair(id, std::move(handler)));
    return id;
}

void EventLoop::cancel(TimerId id) {
    for (auto it = timers_.begin(); it != timers_.end(); ++it)
        if (it->second.first == id) {
            timers_.erase(it);
            return;
        }
}

void EventLoop::run() {
    stopped_ = false;
    while (!stopped_)
        run_once(std::chrono::hours(1));
}

void EventLoop::run_once(Clock::duration timeout) {
    auto now = Clock::now();
    if (!timers_.empty()) timeout = std::min(timeout, timers_.begin()->first - now);
    // Clamped: cast to int, a huge timeout would wrap to 0 (no wait) or a negative (forever).
    const auto wait = std::chrono::ceil<std::chrono::milliseconds>(
        std::clamp(timeout, Clock::duration(0), Clock::duration(std::chrono::hours(24))));
    const int timeout_ms = static_cast<int>(wait.count());

    epoll_event events[64];
    const int count = ::epoll_wait(epoll_.get(), events, 64, timeout_ms);
    if (count < 0 && errno != EINTR) throw_errno("epoll_wait", "the agent's event loop");

    // Handlers may unwatch any fd, so hold each watch while its handler runs.
    std::vector<std::pair<std::shared_ptr<Watch>, uint32_t>> ready;
    for (int i = 0; i < count; ++i) {
        auto found = watches_.find(events[i].data.fd);
        if (found != watches_.end())
            ready.emplace_back(found->second, static_cast<uint32_t>(events[i].events));
    }
    for (auto& [watch, fired] : ready)
        if (!watch->removed) watch->handler(fired);

    // Timers that timer handlers add now wait for the next round, so one that re-arms itself
    // with no delay cannot keep this round going forever.
    now = Clock::now();
    const TimerId first_new = next_timer_;
    while (!timers_.empty() && timers_.begin()->first <= now &&
           timers_.begin()->second.first < first_new) {
        auto handler = std::move(timers_.begin()->second.second);
        timers_.erase(timers_.begin());
        handler();
    }
}

void set_nonblocking(int fd) {
    const int flags = ::fcntl(fd, F_GETFL);
    if (flags < 0 || ::fcntl(fd, F_SETFL, flags | O_NONBLOCK) != 0)
        throw_errno("fcntl(O_NONBLOCK)", "fd " + std::to_string(fd));
    ::fcntl(fd, F_SETFD, FD_CLOEXEC);
}

} // namespace lcloud::agent

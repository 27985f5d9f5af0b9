#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>

#include "common/fd.hpp"

// The agent is one thread around one epoll: the runtime clones container inits with raw clone3,
// which is only safe while no other thread can hold a libc lock.
namespace lcloud::agent {

using Clock = std::chrono::steady_clock;

class EventLoop {
  public:
    // Called with the epoll events (EPOLLIN, EPOLLOUT, EPOLLHUP, ...) that fired.
    using FdHandler = std::function<void(uint32_t events)>;
    using TimerHandler = std::function<void()>;
    using TimerId = uint64_t;

    EventLoop();
    EventLoop(const EventLoop&) = delete;
    EventLoop& operator=(const EventLoop&) = delete;
    ~EventLoop();

    // Watches `fd` (not owned) for `events`; replaces an earlier watch of the same fd.
    void watch(int fd, uint32_t events, FdHandler handler);
    void modify(int fd, uint32_t events);
    // Safe to call from inside any handler, also the fd's own.
    void unwatch(int fd);
    bool watching(int fd) const;

    // Runs `handler` once, `delay` from now. Cancelling an unknown or fired timer does nothing.
    TimerId after(Clock::duration delay, TimerHandler handler);
    void cancel(TimerId id);

    // Runs handlers until stop() is called. Exceptions from handlers propagate out of run().
    void run();
    // Runs what is ready (waiting at most `timeout`), then returns.
    void run_once(Clock::duration timeout);
    void stop() { stopped_ = true; }
    bool stopped() const { return stopped_; }

  private:
    struct Watch;
    Fd epoll_;
    std::map<int, std::shared_ptr<Watch>> watches_;
    std::multimap<Clock::time_point, std::pair<TimerId, TimerHandler>> timers_;
    TimerId next_timer_ = 1;
    bool stopped_ = false;
};

// Sets O_NONBLOCK and FD_CLOEXEC on fd.
void set_nonblocking(int fd);

} // namespace lcloud::agent

#include "agent/event_loop.hpp"
#include "support/child_guard.hpp"

#include <doctest/doctest.h>
#include <fcntl.h>
#include <functional>
#include <stdexcept>
#include <sys/epoll.h>
#include <unistd.h>
#include <vector>

using namespace lcloud;
using namespace lcloud::agent;
using namespace std::chrono_literals;

namespace {

struct Pipe {
    Fd read, write;
    Pipe() {
        int fds[2];
        REQUIRE(::pipe2(fds, O_CLOEXEC | O_NONBLOCK) == 0);
        read.reset(fds[0]);
        write.reset(fds[1]);
    }
    void put(const char* byte = "x") const { REQUIRE(::write(write.get(), byte, 1) == 1); }
};

Clock::duration elapsed_since(Clock::time_point start) {
    return Clock::now() - start;
}

} // namespace

TEST_CASE("agent event loop: a handler that unwatches its own fd is not called again") {
    EventLoop loop;
    Pipe pipe;
    pipe.put(); // never read: stays readable
    int calls = 0;
    loop.watch(pipe.read.get(), EPOLLIN, [&](uint32_t events) {
        ++calls;
        CHECK((events & EPOLLIN) != 0);
        loop.unwatch(pipe.read.get());
    });
    CHECK(loop.watching(pipe.read.get()));
    loop.run_once(200ms);
    loop.run_once(20ms);
    CHECK(calls == 1);
    CHECK_FALSE(loop.watching(pipe.read.get()));
}

TEST_CASE("agent event loop: a handler that unwatches another ready fd keeps it from running") {
    EventLoop loop;
    Pipe first, second;
    first.put();
    second.put();
    int calls = 0;
    loop.watch(first.read.get(), EPOLLIN, [&](uint32_t) {
        ++calls;
        loop.unwatch(second.read.get());
        loop.unwatch(first.read.get());
    });
    loop.watch(second.read.get(), EPOLLIN, [&](uint32_t) {
        ++calls;
        loop.unwatch(first.read.get());
        loop.unwatch(second.read.get());
    });
    loop.run_once(
        200ms); // both are ready in this one round; whichever runs first cancels the other
    CHECK(calls == 1);
    loop.run_once(20ms);
    CHECK(calls == 1);
}

TEST_CASE("agent event loop: a handler may replace its own watch while it runs") {
    EventLoop loop;
    Pipe pipe;
    pipe.put();
    const int fd = pipe.read.get();
    std::vector<std::string> seen;
    auto captured = std::make_shared<std::string>("first handler's capture");
    loop.watch(fd, EPOLLIN, [&, captured](uint32_t) {
        loop.watch(fd, EPOLLIN, [&](uint32_t) {
            seen.push_back("second");
            loop.unwatch(fd);
        });
        // Still running, so its captures must still be alive.
        seen.push_back(*captured);
    });
    captured.reset();
    loop.run_once(200ms);
    loop.run_once(200ms);
    loop.run_once(20ms);
    CHECK(seen == std::vector<std::string>{"first handler's capture", "second"});
}

TEST_CASE("agent event loop: an fd number closed without unwatch can be watched for a new file") {
    EventLoop loop;
    Pipe old_pipe, new_pipe;
    const int number = old_pipe.read.get();
    loop.watch(number, EPOLLIN, [](uint32_t) {});
    old_pipe.read.reset(); // the kernel drops its registration by itself
    REQUIRE(::dup3(new_pipe.read.get(), number, O_CLOEXEC) == number);
    Fd reused(number);
    int calls = 0;
    loop.watch(number, EPOLLIN, [&](uint32_t) {
        ++calls;
        loop.unwatch(number);
    });
    new_pipe.put();
    loop.run_once(500ms);
    CHECK(calls == 1);
}

TEST_CASE("agent event loop: an exception from a handler leaves run_once and the loop usable") {
    EventLoop loop;
    Pipe pipe;
    pipe.put();
    loop.watch(pipe.read.get(), EPOLLIN, [](uint32_t) { throw std::runtime_error("boom"); });
    CHECK_THROWS_WITH_AS(loop.run_once(200ms), "boom", std::runtime_error);
    bool fired = false;
    loop.watch(pipe.read.get(), EPOLLIN, [&](uint32_t) { fired = true; });
    loop.run_once(200ms);
    CHECK(fired);
}

TEST_CASE("agent event loop: timers fire by deadline, ties in the order added, cancelled never") {
    EventLoop loop;
    std::vector<int> order;
    loop.after(60ms, [&] { order.push_back(4); });
    loop.after(20ms, [&] { order.push_back(1); });
    const auto cancelled = loop.after(40ms, [&] { order.push_back(99); });
    loop.after(20ms, [&] { order.push_back(2); });
    const auto fourth = loop.after(40ms, [&] { order.push_back(3); });
    loop.cancel(cancelled);
    loop.cancel(123456); // unknown: nothing happens
    const auto deadline = Clock::now() + 2s;
    while (order.size() < 4 && Clock::now() < deadline)
        loop.run_once(1s);
    CHECK(order == std::vector<int>{1, 2, 3, 4});
    loop.cancel(fourth); // already fired: nothing happens
    loop.run_once(80ms);
    CHECK(order.size() == 4);
}

TEST_CASE("agent event loop: a timer may cancel another that is due in the same round") {
    EventLoop loop;
    std::vector<std::string> fired;
    EventLoop::TimerId second = 0;
    loop.after(10ms, [&] {
        fired.push_back("first");
        loop.cancel(second);
    });
    second = loop.after(10ms, [&] { fired.push_back("second"); });
    const auto deadline = Clock::now() + 1s;
    while (fired.empty() && Clock::now() < deadline)
        loop.run_once(500ms);
    loop.run_once(50ms);
    CHECK(fired == std::vector<std::string>{"first"});
}

TEST_CASE("agent event loop: a timer that re-arms itself at once runs once per round") {
    EventLoop loop;
    int runs = 0;
    std::function<void()> again = [&] {
        // Bounded so that a loop that keeps going fails the test instead of hanging it.
        if (++runs < 1000) loop.after(-1ms, again);
    };
    loop.after(0ms, again);
    loop.run_once(0ms);
    CHECK(runs == 1);
    loop.run_once(0ms);
    CHECK(runs == 2);
}

TEST_CASE("agent event loop: run_once waits for its timeout, or less when a timer is due first") {
    EventLoop loop;
    auto start = Clock::now();
    loop.run_once(80ms);
    CHECK(elapsed_since(start) >= 80ms);
    CHECK(elapsed_since(start) < 1s);

    bool fired = false;
    loop.after(50ms, [&] { fired = true; });
    start = Clock::now();
    loop.run_once(10s);
    CHECK(fired);
    CHECK(elapsed_since(start) >= 50ms);
    CHECK(elapsed_since(start) < 2s);

    start = Clock::now();
    loop.run_once(0ms);
    CHECK(elapsed_since(start) < 50ms);
}

TEST_CASE("agent event loop: a timeout too long for epoll's int still waits for the fd") {
    EventLoop loop;
    Pipe pipe;
    const pid_t pid = ::fork();
    REQUIRE(pid >= 0);
    if (pid == 0) {
        ::usleep(100'000);
        const bool written = ::write(pipe.write.get(), "x", 1) == 1;
        ::_exit(written ? 0 : 1);
    }
    test::ChildGuard child(pid);
    bool readable = false;
    loop.watch(pipe.read.get(), EPOLLIN, [&](uint32_t) {
        readable = true;
        loop.unwatch(pipe.read.get());
    });
    // 2^32 ms: cast to int it would be 0, and run_once would return at once.
    const auto start = Clock::now();
    loop.run_once(std::chrono::milliseconds(1LL << 32));
    CHECK(readable);
    CHECK(elapsed_since(start) >= 50ms);
}

#pragma once

#include "agent/dns/dns_answer.hpp"
#include "agent/event_loop.hpp"
#include "common/fd.hpp"

#include <functional>
#include <map>
#include <netinet/in.h>
#include <optional>
#include <string>

namespace lcloud::agent {

// One TCP client of the name server (RFC 7766): length-prefixed queries in, answers out. Resolvers
// come here after a truncated UDP answer, so questions for other names go to the upstream over
// TCP too.
class DnsTcpClient {
  public:
    using Decide = std::function<DnsDecision(std::string_view query)>;
    static constexpr auto idle_timeout = std::chrono::seconds(10);

    // `on_done` runs from a loop handler when the connection has ended; the owner may destroy
    // the client there.
    DnsTcpClient(EventLoop& loop, Fd socket, Decide decide, std::optional<sockaddr_in> upstream,
                 Clock::duration upstream_timeout, std::function<void()> on_done);
    DnsTcpClient(const DnsTcpClient&) = delete;
    DnsTcpClient& operator=(const DnsTcpClient&) = delete;
    ~DnsTcpClient();

  private:
    struct Forwarded {
        Fd fd;
        DnsQuery query;
        std::string out, in;
        Clock::time_point deadline;
        bool connected = false;
    };

    void on_client(uint32_t events);
    void handle(std::string_view message);
    void forward(DnsQuery query, std::string_view message);
    void on_upstream(uint64_t id);
    void finish_forward(uint64_t id, const std::string& answer);
    void deliver(uint64_t id, const std::string& answer);
    void settle();
    void reply(const std::string& message);
    bool flush();
    void update();
    void arm_timer(Clock::time_point at);
    void on_timer();
    void end();

    EventLoop& loop_;
    Fd socket_;
    Decide decide_;
    std::optional<sockaddr_in> upstream_;
    Clock::duration upstream_timeout_;
    std::function<void()> on_done_;
    std::string in_, out_;
    bool eof_ = false;
    bool watched_ = false;
    uint32_t events_ = 0;
    std::map<uint64_t, Forwarded> forwarded_;
    uint64_t next_forward_ = 1;
    Clock::time_point last_activity_;
    std::optional<std::pair<EventLoop::TimerId, Clock::time_point>> timer_;
    bool done_ = false;
};

} // namespace lcloud::agent

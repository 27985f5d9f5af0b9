#pragma once

#include "agent/server/line_channel.hpp"

#include <functional>
#include <map>
#include <memory>

namespace lcloud::agent {

class Agent;

// One client of the agent. Requests are answered in the order they finish; streaming requests
// (logs -f, exec, events) stay open, and end when the client cancels them or leaves.
class Session {
  public:
    Session(Agent& agent, EventLoop& loop, Fd input, Fd output);
    ~Session();

    void respond(int64_t id, const nlohmann::json& result);
    void fail(int64_t id, const std::string& kind, const std::string& message);
    void stream(int64_t id, nlohmann::json message);

    // What a streaming request leaves open; destroying it ends the stream.
    struct Stream {
        virtual ~Stream() = default;
        // Client data for it (exec's stdin).
        virtual void input(const nlohmann::json&) {}
    };
    void open_stream(int64_t id, std::unique_ptr<Stream> stream);
    void close_stream(int64_t id);
    bool alive() const { return channel_ && channel_->open(); }

  private:
    void on_message(nlohmann::json message);

    Agent& agent_;
    std::unique_ptr<LineChannel> channel_;
    std::map<int64_t, std::unique_ptr<Stream>> streams_;
    bool greeted_ = false;
};

} // namespace lcloud::agent

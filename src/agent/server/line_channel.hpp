#pragma once

#include "agent/event_loop.hpp"
#include "common/fd.hpp"

#include <functional>
#include <nlohmann/json.hpp>
#include <string>

namespace lcloud::agent {

// One JSON message per line over a pair of nonblocking fds (the same socket twice, or stdin and
// stdout), on the event loop. Output is buffered, so send() never blocks.
class LineChannel {
  public:
    using MessageHandler = std::function<void(nlohmann::json message)>;
    using CloseHandler = std::function<void()>;

    // Takes both fds (one fd may be given as input with an empty output to mean "the same").
    LineChannel(EventLoop& loop, Fd input, Fd output, MessageHandler on_message,
                CloseHandler on_close);
    LineChannel(const LineChannel&) = delete;
    LineChannel& operator=(const LineChannel&) = delete;
    ~LineChannel();

    void send(const nlohmann::json& message);
    bool open() const { return open_; }
    // Stops reading and writing; on_close is not called.
    void close();

  private:
    void on_readable();
    void on_writable();
    void fail();
    int out_fd() const { return output_ ? output_.get() : input_.get(); }
    void rearm();

    EventLoop& loop_;
    Fd input_;
    Fd output_;
    MessageHandler on_message_;
    CloseHandler on_close_;
    std::string in_buffer_;
    std::string out_buffer_;
    bool open_ = true;
    bool output_pollable_ = true;
};

// The longest line either side accepts: a build context or a log line is streamed in pieces.
inline constexpr size_t max_line_bytes = 64 << 20;

} // namespace lcloud::agent

#pragma once

#include "ssh/handles.hpp"

#include <functional>
#include <libssh/callbacks.h>
#include <string>
#include <string_view>

namespace lcloud::ssh {

// Records the exit-status or exit-signal the server sends for a channel. Register it before the
// command starts so that neither can be missed.
class ChannelExit {
  public:
    explicit ChannelExit(ssh_channel channel);
    ChannelExit(const ChannelExit&) = delete;
    ChannelExit& operator=(const ChannelExit&) = delete;
    ~ChannelExit();
    bool known() const { return status_ >= 0 || !signal_.empty(); }
    // The shell convention: the status, or 128 + n for a signal (255 for an unknown signal).
    int code() const;

  private:
    static void on_status(ssh_session, ssh_channel, int status, void* self);
    static void on_signal(ssh_session, ssh_channel, const char* signal, int core,
                          const char* message, const char* language, void* self);
    ssh_channel channel_;
    ssh_channel_callbacks_struct callbacks_{};
    int status_ = -1;
    std::string signal_;
};

// Both directions of a running command's channel.
struct PumpEnds {
    int in_fd = -1;         // read until end of file, then EOF to the command; -1: use `input`
    std::string_view input; // sent when in_fd is -1, then EOF
    std::function<void(std::string_view)> on_out;
    std::function<void(std::string_view)> on_err;
    int wake_fd = -1; // when readable: drained, then on_wake runs (window changes)
    std::function<void()> on_wake;
};

// Moves data until the command's output ends, then waits for its exit; returns ChannelExit's
// code. Never blocks on the command's stdin while output is waiting, so a command that writes
// much before reading cannot deadlock with us.
int pump_channel(ssh_session session, ssh_channel channel, const ChannelExit& exit,
                 const std::string& where, PumpEnds& ends);

// Writes all of `bytes` to `fd` (waiting when it is non-blocking); -1 discards.
void write_fd(int fd, std::string_view bytes);

} // namespace lcloud::ssh

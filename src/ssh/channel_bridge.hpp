#pragma once

// One SSH channel as an ordinary socket: a thread moves bytes between the channel and one end
// of a socketpair, and the caller reads and writes the other end. That thread alone uses the
// session from then on (libssh sessions are not thread-safe).

#include "common/fd.hpp"
#include "ssh/session.hpp"

#include <atomic>
#include <string>
#include <thread>

namespace lcloud::ssh {

class ChannelBridge {
  public:
    // Takes the session and a channel open on it, and starts moving bytes.
    ChannelBridge(Session session, ChannelHandle channel);
    // Stops the thread, closes the channel and the session.
    ~ChannelBridge();
    ChannelBridge(const ChannelBridge&) = delete;
    ChannelBridge& operator=(const ChannelBridge&) = delete;

    // The caller's end (once): what is written to it goes into the channel, what the channel
    // sends can be read from it. It reads end of file once the channel ended; closing it ends
    // the channel.
    Fd take_socket();
    // Why the bridge ended, when an error ended it (for diagnosis; the caller only sees EOF).
    std::string failure() const;
    const std::string& where() const { return session_.where(); }

  private:
    void pump() noexcept;
    void pump_until_done();

    Session session_;
    ChannelHandle channel_; // after session_: freed before the session is
    Fd caller_end_;
    Fd pump_end_;
    Fd stop_; // an eventfd: the destructor's wake-up
    std::atomic<bool> failed_{false};
    std::string failure_; // written by the thread before failed_
    std::thread thread_;
};

} // namespace lcloud::ssh

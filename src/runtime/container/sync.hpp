#pragma once

#include "common/fd.hpp"

#include <string>
#include <string_view>

namespace lcloud::runtime {

// One end of the socket pair between the runtime and the container's init. Messages are short
// words; an init that fails sends "error:" followed by one line that names what failed.
class SyncChannel {
  public:
    SyncChannel() = default;
    explicit SyncChannel(Fd fd) : fd_(std::move(fd)) {}

    // A connected pair; [0] stays in the runtime, [1] goes to the init.
    static std::pair<SyncChannel, SyncChannel> make_pair();

    void send(std::string_view message) const;
    // Throws when the peer closed or sent an error (the error's text becomes the message).
    void expect(std::string_view message, std::string_view who) const;
    // The next message; empty when the peer closed.
    std::string receive() const;
    int fd() const { return fd_.get(); }
    void close() { fd_.reset(); }

  private:
    Fd fd_;
};

} // namespace lcloud::runtime

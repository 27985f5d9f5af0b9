#pragma once

#include "agent/event_loop.hpp"
#include "agent/logs/log_file.hpp"
#include "agent/logs/log_tail.hpp"
#include "common/fd.hpp"

#include <filesystem>
#include <functional>
#include <memory>
#include <string>
#include <sys/types.h>

namespace lcloud::agent {

// Delivers the entries appended to DIR's log from its construction on, in order, each once,
// until destroyed; the callback may destroy the follower.
//
// It reads the file it holds to its end, and when inotify on DIR says the log changed and
// container.log is another file, it follows the rotation: the rest of the held file, then every
// newer file from its start. Entries are lost only when a file is rotated out entirely before
// the follower gets to it (max_files rotations within one turn of the event loop).
class LogFollower {
  public:
    using Callback = std::function<void(const LogEntry&)>;

    LogFollower(EventLoop& loop, std::filesystem::path dir, Callback callback);
    LogFollower(const LogFollower&) = delete;
    LogFollower& operator=(const LogFollower&) = delete;
    ~LogFollower();

  private:
    void on_events();
    void catch_up();
    // Delivers the complete entries the held file has; false when the callback destroyed us.
    bool read_held();
    // Takes the file after the held one; false when there is none.
    bool advance();

    EventLoop& loop_;
    std::filesystem::path dir_;
    std::shared_ptr<const Callback> callback_; // shared: it may outlive us while it runs
    Fd inotify_;
    Fd held_;
    ino_t held_inode_ = 0;
    std::string partial_;
    std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);
};

} // namespace lcloud::agent

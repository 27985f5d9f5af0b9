#pragma once

// For `run` and `exec --tty` without --console-socket, as runc does: the runtime takes the
// container's terminal itself and connects it to its own stdin and stdout until the container's
// side closes.

#include "common/fd.hpp"

#include <optional>
#include <termios.h>

namespace lcloud::runtime {

class ConsoleProxy {
  public:
    ConsoleProxy();
    ConsoleProxy(const ConsoleProxy&) = delete;
    ConsoleProxy& operator=(const ConsoleProxy&) = delete;
    ~ConsoleProxy(); // gives our terminal its settings back

    // The end the container's process sends the terminal's master over (see setup_terminal).
    Fd take_container_end() { return std::move(container_end_); }
    // Waits for the master, then puts our own terminal, if stdin is one, in raw mode.
    void receive_master();
    // Copies stdin to the terminal and the terminal to stdout until the container's side closes.
    void pump();

  private:
    Fd runtime_end_;
    Fd container_end_;
    Fd master_;
    std::optional<termios> saved_;
};

} // namespace lcloud::runtime

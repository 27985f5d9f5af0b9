#pragma once

// A container's stdout and stderr, as entries in its log file (log_file.hpp).
//
// The container writes into FIFOs in DIR that it holds open read-write, so there is always a
// reader: an agent killed and started again never costs the container a SIGPIPE, and what the
// container writes meanwhile waits in the pipe (1 MiB where allowed) for the next agent. Once
// the pipe is full the container's writes block until an agent drains it again. The agent reads
// read-only and non-blocking, so the FIFO hangs up when the last process of the container that
// held it is gone; the capture then drains it, writes a held partial line and stops watching
// until reopen().
//
// Limits: a partial line the agent has read but not written is lost when the agent is killed
// (at most 16 KiB per stream). A pipe nobody holds open is freed with its contents, so output
// of a container that dies while no agent runs may be lost.

#include "agent/event_loop.hpp"
#include "agent/logs/line_splitter.hpp"
#include "agent/logs/log_file.hpp"
#include "common/fd.hpp"

#include <filesystem>
#include <string_view>

namespace lcloud::agent {

// DIR/stdout.fifo and DIR/stderr.fifo, mode 0600; existing FIFOs are kept, anything else there
// is refused.
void make_log_fifos(const std::filesystem::path& dir);

// The container's ends of the FIFOs, opened read-write with FD_CLOEXEC set (the caller hands
// them over as fd 1 and 2, which clears it).
struct ContainerStdio {
    Fd out;
    Fd err;
};
ContainerStdio open_container_stdio(const std::filesystem::path& dir);

class LogCapture {
  public:
    // Opens DIR/container.log and starts reading the FIFOs of make_log_fifos.
    LogCapture(EventLoop& loop, std::filesystem::path dir, LogOptions options = {});
    LogCapture(const LogCapture&) = delete;
    LogCapture& operator=(const LogCapture&) = delete;
    // Writes held partial lines; what is still in the pipes stays there for the next capture.
    ~LogCapture();

    // For a restarted container, once it holds the FIFOs: finishes what the last run left and
    // watches the FIFOs again.
    void reopen();
    // For a container that exited: drains the pipes and writes the partial last lines.
    void flush();
    // An entry of the stream "event", e.g. "restarted (exit code 1)"; a newline is added.
    void event(std::string_view text);
    // False once both FIFOs hung up (every process of the container closed them).
    bool reading() const;

  private:
    struct Stream {
        const char* name;
        const char* fifo;
        Fd fd;
        LineSplitter lines;
    };
    enum class Drained { empty, eof, budget_spent };

    void watch(Stream& stream);
    void on_ready(Stream& stream, uint32_t events);
    Drained drain(Stream& stream, size_t budget);
    void finish(Stream& stream);
    void stop(Stream& stream);
    void write(std::string_view stream, std::string_view text);

    EventLoop& loop_;
    std::filesystem::path dir_;
    LogFile file_;
    Stream out_{"stdout", "stdout.fifo", {}, {}};
    Stream err_{"stderr", "stderr.fifo", {}, {}};
    bool write_failing_ = false;
};

} // namespace lcloud::agent

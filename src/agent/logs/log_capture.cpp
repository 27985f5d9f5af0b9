#include "agent/logs/log_capture.hpp"

#include "common/error.hpp"

#include <cerrno>
#include <cstring>
#include <fcntl.h>
#include <fmt/format.h>
#include <limits>
#include <spdlog/spdlog.h>
#include <sys/epoll.h>
#include <sys/stat.h>
#include <unistd.h>

namespace lcloud::agent {

namespace fs = std::filesystem;

namespace {

constexpr const char* fifo_names[] = {"stdout.fifo", "stderr.fifo"};
constexpr int container_pipe_size = 1 << 20;
// One wake-up reads at most this much per stream, so a chatty container cannot starve the loop.
constexpr size_t budget_per_wake = 1 << 20;
// More than a pipe holds: once the writers are gone, this reaches the end.
constexpr size_t budget_to_end = 4 * container_pipe_size;

Fd open_fifo(const fs::path& path, int flags) {
    Fd fd(::open(path.c_str(), flags | O_CLOEXEC | O_NOFOLLOW));
    if (!fd) throw_errno("open", path.string());
    struct stat info {};
    if (::fstat(fd.get(), &info) != 0) throw_errno("fstat", path.string());
    if (!S_ISFIFO(info.st_mode))
        throw Error(fmt::format("{} is not a FIFO; it should be the container's output pipe "
                                "(make_log_fifos)",
                                path.string()));
    return fd;
}

} // namespace

void make_log_fifos(const fs::path& dir) {
    for (const char* name : fifo_names) {
        const fs::path path = dir / name;
        if (::mkfifo(path.c_str(), 0600) == 0) continue;
        if (errno != EEXIST) throw_errno("mkfifo", path.string());
        struct stat info {};
        if (::lstat(path.c_str(), &info) != 0) throw_errno("lstat", path.string());
        if (!S_ISFIFO(info.st_mode))
            throw Error(fmt::format("{} exists and is not a FIFO; remove it so that the "
                                    "container's output can be captured",
                                    path.string()));
    }
}

ContainerStdio open_container_stdio(const fs::path& dir) {
    ContainerStdio stdio{open_fifo(dir / fifo_names[0], O_RDWR),
                         open_fifo(dir / fifo_names[1], O_RDWR)};
    // Room for what the container writes while no agent drains; the default 64 KiB otherwise.
    ::fcntl(stdio.out.get(), F_SETPIPE_SZ, container_pipe_size);
    ::fcntl(stdio.err.get(), F_SETPIPE_SZ, container_pipe_size);
    return stdio;
}

LogCapture::LogCapture(EventLoop& loop, fs::path dir, LogOptions options)
    : loop_(loop), dir_(std::move(dir)), file_(dir_, options) {
    out_.fd = open_fifo(dir_ / out_.fifo, O_RDONLY | O_NONBLOCK);
    err_.fd = open_fifo(dir_ / err_.fifo, O_RDONLY | O_NONBLOCK);
    try {
        watch(out_);
        watch(err_);
    } catch (...) {
        loop_.unwatch(out_.fd.get());
        throw;
    }
}

LogCapture::~LogCapture() {
    for (Stream* stream : {&out_, &err_}) {
        if (stream->fd) loop_.unwatch(stream->fd.get());
        finish(*stream);
    }
}

void LogCapture::watch(Stream& stream) {
    loop_.watch(stream.fd.get(), EPOLLIN,
                [this, &stream](uint32_t events) { on_ready(stream, events); });
}

void LogCapture::on_ready(Stream& stream, uint32_t events) {
    // A hang-up is reported as long as no writer holds the FIFO: read to the end, then stop.
    const bool hung_up = (events & (EPOLLHUP | EPOLLERR)) != 0;
    const Drained drained = drain(stream, hung_up ? budget_to_end : budget_per_wake);
    if (hung_up || drained == Drained::eof) stop(stream);
}

LogCapture::Drained LogCapture::drain(Stream& stream, size_t budget) {
    char buffer[65536];
    while (budget > 0) {
        const ssize_t got = ::read(stream.fd.get(), buffer, std::min(sizeof buffer, budget));
        if (got < 0 && errno == EINTR) continue;
        if (got < 0 && errno == EAGAIN) return Drained::empty;
        if (got < 0) {
            spdlog::warn("agent: reading {}: {}; its output is no longer captured",
                         (dir_ / stream.fifo).string(), std::strerror(errno));
            return Drained::eof;
        }
        if (got == 0) return Drained::eof;
        budget -= static_cast<size_t>(got);
        stream.lines.feed(std::string_view(buffer, static_cast<size_t>(got)),
                          [&](std::string_view line) { write(stream.name, line); });
    }
    return Drained::budget_spent;
}

void LogCapture::finish(Stream& stream) {
    stream.lines.finish([&](std::string_view line) { write(stream.name, line); });
}

void LogCapture::stop(Stream& stream) {
    finish(stream);
    loop_.unwatch(stream.fd.get());
}

void LogCapture::reopen() {
    for (Stream* stream : {&out_, &err_}) {
        // Opened before the old reader closes, so the pipe and what it holds live on.
        Fd fresh = open_fifo(dir_ / stream->fifo, O_RDONLY | O_NONBLOCK);
        loop_.unwatch(stream->fd.get());
        drain(*stream, budget_to_end);
        finish(*stream);
        stream->fd = std::move(fresh);
        watch(*stream);
    }
}

void LogCapture::flush() {
    for (Stream* stream : {&out_, &err_}) {
        if (drain(*stream, budget_to_end) == Drained::eof)
            stop(*stream);
        else
            finish(*stream);
    }
}

void LogCapture::event(std::string_view text) {
    std::string line(text);
    if (line.empty() || line.back() != '\n') line += '\n';
    write("event", line);
}

bool LogCapture::reading() const {
    return loop_.watching(out_.fd.get()) || loop_.watching(err_.fd.get());
}

void LogCapture::write(std::string_view stream, std::string_view text) {
    try {
        file_.append(stream, text);
        write_failing_ = false;
    } catch (const Error& error) {
        // Dropped rather than stalling the container; said once per failing spell.
        if (!write_failing_)
            spdlog::error("agent: {}; dropping the container's output until it works again",
                          error.what());
        write_failing_ = true;
    }
}

} // namespace lcloud::agent

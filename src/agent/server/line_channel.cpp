#include "agent/server/line_channel.hpp"

#include <cerrno>
#include <spdlog/spdlog.h>
#include <sys/epoll.h>
#include <sys/stat.h>
#include <unistd.h>

namespace lcloud::agent {

LineChannel::LineChannel(EventLoop& loop, Fd input, Fd output, MessageHandler on_message,
                         CloseHandler on_close)
    : loop_(loop), input_(std::move(input)), output_(std::move(output)),
      on_message_(std::move(on_message)), on_close_(std::move(on_close)) {
    set_nonblocking(input_.get());
    if (output_) {
        // A regular file (a test's capture) cannot be polled; writes to it never wait anyway.
        struct stat info {};
        output_pollable_ = ::fstat(output_.get(), &info) == 0 && !S_ISREG(info.st_mode);
        if (output_pollable_) {
            set_nonblocking(output_.get());
            loop_.watch(output_.get(), 0, [this](uint32_t) { on_writable(); });
        }
    }
    loop_.watch(input_.get(), EPOLLIN, [this](uint32_t events) {
        if (!output_ && (events & EPOLLOUT)) on_writable();
        if (events & (EPOLLIN | EPOLLHUP | EPOLLERR)) on_readable();
    });
}

LineChannel::~LineChannel() {
    close();
}

void LineChannel::close() {
    if (!open_) return;
    open_ = false;
    loop_.unwatch(input_.get());
    if (output_ && output_pollable_) loop_.unwatch(output_.get());
}

void LineChannel::rearm() {
    if (!open_) return;
    const bool pending = !out_buffer_.empty();
    if (output_) {
        if (output_pollable_) loop_.modify(output_.get(), pending ? EPOLLOUT : 0);
    } else
        loop_.modify(input_.get(), EPOLLIN | (pending ? EPOLLOUT : 0));
}

void LineChannel::send(const nlohmann::json& message) {
    if (!open_) return;
    const bool was_empty = out_buffer_.empty();
    out_buffer_ += message.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
    out_buffer_ += '\n';
    if (was_empty) on_writable();
}

void LineChannel::on_writable() {
    while (open_ && !out_buffer_.empty()) {
        const ssize_t written = ::write(out_fd(), out_buffer_.data(), out_buffer_.size());
        if (written < 0) {
            if (errno == EINTR) continue;
            if (errno == EAGAIN) break;
            fail();
            return;
        }
        out_buffer_.erase(0, static_cast<size_t>(written));
    }
    rearm();
}

void LineChannel::on_readable() {
    char chunk[65536];
    for (;;) {
        const ssize_t got = ::read(input_.get(), chunk, sizeof chunk);
        if (got < 0) {
            if (errno == EINTR) continue;
            if (errno == EAGAIN) return;
            fail();
            return;
        }
        if (got == 0) {
            fail();
            return;
        }
        in_buffer_.append(chunk, static_cast<size_t>(got));
        size_t start = 0;
        for (size_t newline; open_ && (newline = in_buffer_.find('\n', start)) != std::string::npos;
             start = newline + 1) {
            const std::string_view line(in_buffer_.data() + start, newline - start);
            if (line.empty()) continue;
            auto message = nlohmann::json::parse(line, nullptr, false);
            if (message.is_discarded() || !message.is_object()) {
                send({{"error",
                       {{"kind", "protocol"},
                        {"message", "a message must be one JSON object on one line"}}}});
                continue;
            }
            on_message_(std::move(message));
        }
        if (!open_) return;
        in_buffer_.erase(0, start);
        if (in_buffer_.size() > max_line_bytes) {
            spdlog::warn("agent: a client sent a line longer than {} bytes; closing it",
                         max_line_bytes);
            fail();
            return;
        }
    }
}

void LineChannel::fail() {
    if (!open_) return;
    close();
    if (on_close_) on_close_();
}

} // namespace lcloud::agent

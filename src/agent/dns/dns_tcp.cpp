#include "agent/dns/dns_tcp.hpp"

#include <algorithm>
#include <cerrno>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <vector>

namespace lcloud::agent {

namespace {

constexpr size_t max_frame = 2 + 65535;
constexpr size_t max_forwarded = 16;      // questions of one client waiting for the upstream
constexpr size_t max_queued = 256 * 1024; // answers the client has not read yet

bool transient(int error) {
    return error == EAGAIN || error == EWOULDBLOCK || error == EINTR;
}

std::string frame(std::string_view message) {
    std::string out;
    out += static_cast<char>(message.size() >> 8);
    out += static_cast<char>(message.size() & 0xff);
    out += message;
    return out;
}

// The length of the first complete frame in `buffer`, if there is one.
std::optional<size_t> complete_frame(const std::string& buffer) {
    if (buffer.size() < 2) return std::nullopt;
    const size_t length = (static_cast<uint8_t>(buffer[0]) << 8) | static_cast<uint8_t>(buffer[1]);
    if (buffer.size() < 2 + length) return std::nullopt;
    return length;
}

} // namespace

DnsTcpClient::DnsTcpClient(EventLoop& loop, Fd socket, Decide decide,
                           std::optional<sockaddr_in> upstream, Clock::duration upstream_timeout,
                           std::function<void()> on_done)
    : loop_(loop), socket_(std::move(socket)), decide_(std::move(decide)), upstream_(upstream),
      upstream_timeout_(upstream_timeout), on_done_(std::move(on_done)),
      last_activity_(Clock::now()) {
    update();
    arm_timer(last_activity_ + idle_timeout);
}

DnsTcpClient::~DnsTcpClient() {
    if (timer_) loop_.cancel(timer_->first);
    if (watched_) loop_.unwatch(socket_.get());
    for (auto& [id, forwarded] : forwarded_)
        loop_.unwatch(forwarded.fd.get());
}

void DnsTcpClient::on_client(uint32_t events) {
    if (done_) return;
    if (events & EPOLLERR) return end();
    last_activity_ = Clock::now();
    char buffer[16384];
    while (!eof_ && forwarded_.size() < max_forwarded && out_.size() < max_queued) {
        const ssize_t got = ::recv(socket_.get(), buffer, sizeof buffer, 0);
        if (got < 0) {
            if (transient(errno)) break;
            return end();
        }
        if (got == 0) {
            eof_ = true;
            break;
        }
        in_.append(buffer, static_cast<size_t>(got));
        while (const auto length = complete_frame(in_)) {
            handle(std::string_view(in_).substr(2, *length));
            in_.erase(0, 2 + *length);
        }
        if (in_.size() >= max_frame) return end(); // cannot happen with honest framing
    }
    settle();
}

void DnsTcpClient::handle(std::string_view message) {
    DnsDecision decision = decide_(message);
    switch (decision.kind) {
    case DnsDecision::Kind::drop:
        return;
    case DnsDecision::Kind::reply:
        return reply(decision.reply);
    case DnsDecision::Kind::forward:
        return forward(std::move(decision.query), message);
    }
}

void DnsTcpClient::reply(const std::string& message) {
    out_ += frame(message);
}

void DnsTcpClient::forward(DnsQuery query, std::string_view message) {
    const std::string failure = encode_dns_answer(query, DnsRcode::server_failure, {}, 0, false);
    if (!upstream_ || forwarded_.size() >= max_forwarded) return reply(failure);
    Forwarded forwarded;
    forwarded.fd = Fd(::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
    if (!forwarded.fd) return reply(failure);
    const auto& upstream = *upstream_;
    if (::connect(forwarded.fd.get(), reinterpret_cast<const sockaddr*>(&upstream),
                  sizeof upstream) != 0 &&
        errno != EINPROGRESS)
        return reply(failure);
    forwarded.query = std::move(query);
    forwarded.out = frame(message);
    forwarded.deadline = Clock::now() + upstream_timeout_;
    const uint64_t id = next_forward_++;
    const int fd = forwarded.fd.get();
    const auto deadline = forwarded.deadline;
    forwarded_.emplace(id, std::move(forwarded));
    loop_.watch(fd, EPOLLOUT, [this, id](uint32_t) { on_upstream(id); });
    arm_timer(deadline);
}

void DnsTcpClient::deliver(uint64_t id, const std::string& answer) {
    finish_forward(id, answer);
    settle();
}

void DnsTcpClient::on_upstream(uint64_t id) {
    const auto found = forwarded_.find(id);
    if (found == forwarded_.end() || done_) return;
    Forwarded& forwarded = found->second;
    const std::string failure =
        encode_dns_answer(forwarded.query, DnsRcode::server_failure, {}, 0, false);
    if (!forwarded.connected) {
        int error = 0;
        socklen_t length = sizeof error;
        ::getsockopt(forwarded.fd.get(), SOL_SOCKET, SO_ERROR, &error, &length);
        if (error != 0) return deliver(id, failure);
        forwarded.connected = true;
    }
    while (!forwarded.out.empty()) {
        const ssize_t sent =
            ::send(forwarded.fd.get(), forwarded.out.data(), forwarded.out.size(), MSG_NOSIGNAL);
        if (sent < 0) {
            if (transient(errno)) return;
            return deliver(id, failure);
        }
        forwarded.out.erase(0, static_cast<size_t>(sent));
        if (forwarded.out.empty()) loop_.modify(forwarded.fd.get(), EPOLLIN);
    }
    char buffer[16384];
    for (;;) {
        const ssize_t got = ::recv(forwarded.fd.get(), buffer, sizeof buffer, 0);
        if (got < 0 && transient(errno)) return;
        if (got <= 0) return deliver(id, failure); // closed before a whole answer
        forwarded.in.append(buffer, static_cast<size_t>(got));
        if (const auto length = complete_frame(forwarded.in)) {
            const std::string answer = forwarded.in.substr(2, *length);
            try {
                const DnsHeader header = parse_dns_header(answer);
                if (header.is_response() && header.id == forwarded.query.header.id &&
                    (header.questions == 0 || first_question(answer) == forwarded.query.question))
                    return deliver(id, answer);
            } catch (const MalformedDnsMessage&) {
            }
            return deliver(id, failure);
        }
        if (forwarded.in.size() >= max_frame) return deliver(id, failure);
    }
}

void DnsTcpClient::finish_forward(uint64_t id, const std::string& answer) {
    const auto found = forwarded_.find(id);
    if (found == forwarded_.end()) return;
    loop_.unwatch(found->second.fd.get());
    forwarded_.erase(found);
    reply(answer);
    last_activity_ = Clock::now();
}

// Last in every handler: it may end the client, and the owner destroy it.
void DnsTcpClient::settle() {
    if (!flush()) return end();
    update();
}

bool DnsTcpClient::flush() {
    while (!out_.empty()) {
        const ssize_t sent = ::send(socket_.get(), out_.data(), out_.size(), MSG_NOSIGNAL);
        if (sent < 0) return transient(errno);
        out_.erase(0, static_cast<size_t>(sent));
    }
    return true;
}

void DnsTcpClient::update() {
    if (eof_ && forwarded_.empty() && out_.empty()) return end();
    uint32_t wanted = 0;
    if (!eof_ && forwarded_.size() < max_forwarded && out_.size() < max_queued) wanted |= EPOLLIN;
    if (!out_.empty()) wanted |= EPOLLOUT;
    if (!watched_) {
        loop_.watch(socket_.get(), wanted, [this](uint32_t events) { on_client(events); });
        watched_ = true;
    } else if (wanted != events_) {
        loop_.modify(socket_.get(), wanted);
    }
    events_ = wanted;
}

void DnsTcpClient::arm_timer(Clock::time_point at) {
    if (timer_ && timer_->second <= at) return; // it fires first and arms the next one
    if (timer_) loop_.cancel(timer_->first);
    timer_.emplace(loop_.after(at - Clock::now(), [this] { on_timer(); }), at);
}

void DnsTcpClient::on_timer() {
    timer_.reset();
    const auto now = Clock::now();
    std::vector<uint64_t> late;
    for (const auto& [id, forwarded] : forwarded_)
        if (forwarded.deadline <= now) late.push_back(id);
    for (const uint64_t id : late) {
        const auto found = forwarded_.find(id);
        const std::string failure =
            encode_dns_answer(found->second.query, DnsRcode::server_failure, {}, 0, false);
        finish_forward(id, failure);
    }
    if (forwarded_.empty() && out_.empty() && now - last_activity_ >= idle_timeout) return end();
    Clock::time_point next = last_activity_ + idle_timeout;
    for (const auto& [id, forwarded] : forwarded_)
        next = std::min(next, forwarded.deadline);
    arm_timer(std::max(next, now + std::chrono::milliseconds(1)));
    settle();
}

void DnsTcpClient::end() {
    if (done_) return;
    done_ = true;
    if (timer_) loop_.cancel(timer_->first);
    timer_.reset();
    if (watched_) loop_.unwatch(socket_.get());
    watched_ = false;
    for (auto& [id, forwarded] : forwarded_)
        loop_.unwatch(forwarded.fd.get());
    forwarded_.clear();
    // The owner may destroy this client in on_done, so nothing of it is touched afterwards.
    auto done = std::move(on_done_);
    if (done) done();
}

} // namespace lcloud::agent

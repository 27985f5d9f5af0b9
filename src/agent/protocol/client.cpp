#include "agent/protocol/client.hpp"

#include <cstring>
#include <fcntl.h>
#include <fmt/format.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>
#include <utility>

namespace lcloud::agent {

AgentClient::AgentClient(Fd input, Fd output, std::string description)
    : input_(std::move(input)), output_(std::move(output)), description_(std::move(description)) {
    ::signal(SIGPIPE, SIG_IGN);
    const auto hello = call("hello", {{"protocol", protocol_version}});
    (void)hello;
}

AgentClient::AgentClient(Fd input, Fd output, std::string description,
                         std::shared_ptr<void> carrier)
    : input_(std::move(input)), output_(std::move(output)), description_(std::move(description)),
      carrier_(std::move(carrier)) {
    ::signal(SIGPIPE, SIG_IGN);
    call("hello", {{"protocol", protocol_version}});
}

AgentClient::AgentClient(AgentClient&& other) noexcept
    : input_(std::move(other.input_)), output_(std::move(other.output_)),
      description_(std::move(other.description_)), buffer_(std::move(other.buffer_)),
      next_id_(other.next_id_), current_(other.current_), child_(std::exchange(other.child_, 0)),
      carrier_(std::move(other.carrier_)) {}

AgentClient::~AgentClient() {
    input_.reset();
    output_.reset();
    if (child_ > 0) ::waitpid(child_, nullptr, 0);
    carrier_.reset(); // after the fds: it sees their end first
}

std::optional<AgentClient> AgentClient::connect_unix(const std::string& path) {
    Fd fd(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
    sockaddr_un address{};
    address.sun_family = AF_UNIX;
    std::strncpy(address.sun_path, path.c_str(), sizeof address.sun_path - 1);
    if (!fd || ::connect(fd.get(), reinterpret_cast<sockaddr*>(&address), sizeof address) != 0)
        return std::nullopt;
    return AgentClient(std::move(fd), Fd(), "the agent at " + path);
}

AgentClient AgentClient::spawn(const std::vector<std::string>& argv) {
    int to_child[2], from_child[2];
    if (::pipe2(to_child, O_CLOEXEC) != 0 || ::pipe2(from_child, O_CLOEXEC) != 0)
        throw_errno("pipe", argv.at(0));
    const pid_t pid = ::fork();
    if (pid < 0) throw_errno("fork", argv.at(0));
    if (pid == 0) {
        ::dup2(to_child[0], 0);
        ::dup2(from_child[1], 1);
        std::vector<char*> args;
        for (const auto& arg : argv)
            args.push_back(const_cast<char*>(arg.c_str()));
        args.push_back(nullptr);
        ::execvp(args[0], args.data());
        ::_exit(127);
    }
    ::close(to_child[0]);
    ::close(from_child[1]);
    AgentClient client{Fd(from_child[0]), Fd(to_child[1]), argv.at(0)};
    client.child_ = pid;
    return client;
}

void AgentClient::send(const nlohmann::json& message) {
    const std::string line = message.dump() + "\n";
    const int fd = output_ ? output_.get() : input_.get();
    for (size_t done = 0; done < line.size();) {
        const ssize_t written = ::write(fd, line.data() + done, line.size() - done);
        if (written < 0 && errno == EINTR) continue;
        if (written <= 0)
            throw AgentError("connection",
                             fmt::format("{} went away: {}", description_, std::strerror(errno)));
        done += static_cast<size_t>(written);
    }
}

nlohmann::json AgentClient::receive(const std::vector<int>& extra_fds,
                                    const std::function<void(int)>& on_extra) {
    for (;;) {
        if (const auto newline = buffer_.find('\n'); newline != std::string::npos) {
            auto message = nlohmann::json::parse(buffer_.substr(0, newline), nullptr, false);
            buffer_.erase(0, newline + 1);
            if (message.is_discarded())
                throw AgentError("protocol", description_ + " sent a line that is not JSON");
            return message;
        }
        std::vector<pollfd> fds{{input_.get(), POLLIN, 0}};
        for (int fd : extra_fds)
            fds.push_back({fd, POLLIN, 0});
        if (::poll(fds.data(), fds.size(), -1) < 0) {
            if (errno == EINTR) continue;
            throw_errno("poll", description_);
        }
        for (size_t i = 1; i < fds.size(); ++i)
            if (fds[i].revents) on_extra(fds[i].fd);
        if (!fds[0].revents) continue;
        char chunk[65536];
        const ssize_t got = ::read(input_.get(), chunk, sizeof chunk);
        if (got < 0 && errno == EINTR) continue;
        if (got <= 0)
            throw AgentError("connection", description_ + " closed the connection; see its log");
        buffer_.append(chunk, static_cast<size_t>(got));
    }
}

nlohmann::json AgentClient::call(const std::string& method, const nlohmann::json& params) {
    return call_streaming(method, params, [](const nlohmann::json&) {});
}

nlohmann::json AgentClient::call_streaming(const std::string& method, const nlohmann::json& params,
                                           const StreamHandler& on_stream,
                                           const std::vector<int>& extra_fds,
                                           const std::function<void(int)>& on_extra) {
    const int64_t id = next_id_++;
    current_ = id;
    send({{"id", id},
          {"method", method},
          {"params", params.is_null() ? nlohmann::json::object() : params}});
    for (;;) {
        auto message = receive(extra_fds, on_extra);
        if (message.value("id", int64_t{-2}) != id) continue;
        if (message.contains("stream")) {
            on_stream(message);
            continue;
        }
        if (message.contains("error")) {
            const auto& error = message.at("error");
            throw AgentError(error.value("kind", "failed"), error.value("message", "failed"));
        }
        return message.value("result", nlohmann::json::object());
    }
}

void AgentClient::cancel(int64_t request) {
    send({{"id", next_id_++}, {"method", "cancel"}, {"params", {{"id", request}}}});
}

void AgentClient::send_input(const nlohmann::json& params) {
    send({{"id", next_id_++}, {"method", "input"}, {"params", params}});
}

} // namespace lcloud::agent

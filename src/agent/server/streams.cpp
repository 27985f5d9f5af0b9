#include "agent/server/streams.hpp"

#include "agent/logs/log_follow.hpp"
#include "agent/protocol/protocol.hpp"
#include "agent/server/session.hpp"
#include "agent/supervisor/supervisor.hpp"
#include "runtime/container/commands.hpp"

#include <csignal>
#include <fcntl.h>
#include <sys/epoll.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

namespace lcloud::agent {

namespace {

nlohmann::json entry_json(const LogEntry& entry) {
    return {{"stream", "log"},
            {"entry", {{"time", entry.time}, {"stream", entry.stream}, {"log", entry.log}}}};
}

struct LogStream : Session::Stream {
    std::unique_ptr<LogFollower> follower;
    int subscription = 0;
    Supervisor* supervisor = nullptr;
    ~LogStream() override {
        if (supervisor && subscription) supervisor->unsubscribe(subscription);
    }
};

struct EventStream : Session::Stream {
    Supervisor* supervisor = nullptr;
    int subscription = 0;
    ~EventStream() override { supervisor->unsubscribe(subscription); }
};

// The exec'ing child and the pipes to it.
struct ExecStream : Session::Stream {
    EventLoop* loop = nullptr;
    pid_t pid = 0;
    Fd pidfd, stdin_fd, stdout_fd, stderr_fd;
    ~ExecStream() override {
        for (Fd* fd : {&pidfd, &stdout_fd, &stderr_fd})
            if (*fd) loop->unwatch(fd->get());
        if (pid > 0) {
            ::kill(-pid, SIGKILL);
            ::waitpid(pid, nullptr, 0);
        }
    }
    void input(const nlohmann::json& params) override {
        if (!stdin_fd) return;
        if (params.contains("data")) {
            const std::string bytes = base64_decode(params.at("data").get<std::string>());
            // Small writes into a pipe; a client that floods stdin waits for the program.
            size_t done = 0;
            while (done < bytes.size()) {
                const ssize_t written =
                    ::write(stdin_fd.get(), bytes.data() + done, bytes.size() - done);
                if (written <= 0) break;
                done += static_cast<size_t>(written);
            }
        }
        if (params.value("eof", false)) stdin_fd.reset();
    }
};

// Sends what the pipe holds now; false once it is at its end.
bool drain(Session& session, int64_t id, int fd, const char* name) {
    char buffer[65536];
    for (;;) {
        const ssize_t got = ::read(fd, buffer, sizeof buffer);
        if (got > 0) {
            session.stream(id, {{"stream", name},
                                {"data", base64_encode(std::string_view(buffer, size_t(got)))}});
            continue;
        }
        if (got < 0 && (errno == EAGAIN || errno == EINTR)) return true;
        return false;
    }
}

} // namespace

void start_log_stream(Session& session, int64_t id, Supervisor& supervisor, EventLoop& loop,
                      const std::string& container, int64_t tail, bool follow) {
    const auto dir = supervisor.log_dir(container);
    std::optional<size_t> count;
    if (tail >= 0) count = static_cast<size_t>(tail);
    // As with docker logs, --tail 0 is none of the past: `logs -f --tail 0` shows what comes.
    if (tail != 0)
        for (const auto& entry : read_tail(dir, count))
            session.stream(id, entry_json(entry));
    if (!follow) {
        session.respond(id, nlohmann::json::object());
        return;
    }
    auto stream = std::make_unique<LogStream>();
    stream->follower =
        std::make_unique<LogFollower>(loop, dir, [&session, id](const LogEntry& entry) {
            session.stream(id, entry_json(entry));
        });
    stream->supervisor = &supervisor;
    stream->subscription =
        supervisor.subscribe([&session, id, container, &loop](const nlohmann::json& event) {
            if (event.value("container", "") != container || event.value("action", "") != "remove")
                return;
            loop.after(Clock::duration(0), [&session, id] {
                session.respond(id, {{"removed", true}});
            });
        });
    session.open_stream(id, std::move(stream));
}

void start_event_stream(Session& session, int64_t id, Supervisor& supervisor,
                        const std::string& environment) {
    auto stream = std::make_unique<EventStream>();
    stream->supervisor = &supervisor;
    stream->subscription =
        supervisor.subscribe([&session, id, environment](const nlohmann::json& event) {
            if (!environment.empty() && event.value("environment", "") != environment) return;
            session.stream(id, {{"stream", "event"}, {"event", event}});
        });
    session.open_stream(id, std::move(stream));
}

void start_exec(Session& session, int64_t id, Supervisor& supervisor, EventLoop& loop,
                const std::string& container, const nlohmann::json& params) {
    if (supervisor.status(container).state != "running")
        throw AgentError("not_running", "container " + container + " is not running");
    runtime::ExecOptions options;
    options.args = params.at("args").get<std::vector<std::string>>();
    if (options.args.empty()) throw AgentError("protocol", "exec needs a command (\"args\")");
    options.env = params.value("env", std::vector<std::string>{});
    options.cwd = params.value("cwd", "");
    options.tty = params.value("tty", false);

    int in[2], out[2], err[2];
    if (::pipe2(in, O_CLOEXEC) != 0 || ::pipe2(out, O_CLOEXEC) != 0 || ::pipe2(err, O_CLOEXEC) != 0)
        throw_errno("pipe", "exec in " + container);
    auto& store = supervisor.runtime_store();
    const pid_t child = ::fork();
    if (child < 0) throw_errno("fork", "exec in " + container);
    if (child == 0) {
        ::setpgid(0, 0);
        ::dup2(in[0], 0);
        ::dup2(out[1], 1);
        ::dup2(err[1], 2);
        ::signal(SIGPIPE, SIG_DFL);
        try {
            ::_exit(runtime::exec_in_container(store, container, options));
        } catch (const std::exception& error) {
            const std::string line = std::string("lcloud-agent: exec: ") + error.what() + "\n";
            (void)!::write(2, line.data(), line.size());
            ::_exit(126);
        }
    }
    auto stream = std::make_unique<ExecStream>();
    stream->loop = &loop;
    stream->pid = child;
    stream->stdin_fd = Fd(in[1]);
    stream->stdout_fd = Fd(out[0]);
    stream->stderr_fd = Fd(err[0]);
    ::close(in[0]);
    ::close(out[1]);
    ::close(err[1]);
    if (!params.value("stdin", false)) stream->stdin_fd.reset();
    set_nonblocking(stream->stdout_fd.get());
    set_nonblocking(stream->stderr_fd.get());
    stream->pidfd = Fd(static_cast<int>(::syscall(SYS_pidfd_open, child, 0)));
    ExecStream* raw = stream.get();
    for (auto [fd, name] : {std::pair{&raw->stdout_fd, "stdout"}, {&raw->stderr_fd, "stderr"}}) {
        loop.watch(fd->get(), EPOLLIN, [&session, id, fd, name, &loop](uint32_t) {
            if (!drain(session, id, fd->get(), name)) {
                loop.unwatch(fd->get());
                fd->reset();
            }
        });
    }
    loop.watch(raw->pidfd.get(), EPOLLIN, [&session, id, raw, &loop](uint32_t) {
        loop.unwatch(raw->pidfd.get());
        int status = 0;
        ::waitpid(raw->pid, &status, 0);
        raw->pid = 0;
        for (auto [fd, name] : {std::pair{&raw->stdout_fd, "stdout"}, {&raw->stderr_fd, "stderr"}})
            if (*fd) drain(session, id, fd->get(), name);
        session.respond(id, {{"exit_code", runtime::exit_code_of(status)}});
    });
    session.open_stream(id, std::move(stream));
}

} // namespace lcloud::agent

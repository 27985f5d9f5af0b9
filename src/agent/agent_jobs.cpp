// Long image work (build, bootstrap) runs in a child of the agent, so that the event loop keeps
// serving every other client meanwhile. Threads are not an option: the runtime clones with raw
// clone3 (see event_loop.hpp). The child reports on a pipe, one JSON message per line:
// {"line": ...} for progress, then {"result": ...} or {"error": {"kind", "message"}}.
#include "agent/agent.hpp"

#include "agent/protocol/protocol.hpp"
#include "agent/server/session.hpp"
#include "common/error.hpp"
#include "runtime/container/commands.hpp"
#include "runtime/image/build/build_error.hpp"

#include <csignal>
#include <fcntl.h>
#include <fmt/format.h>
#include <spdlog/spdlog.h>
#include <sys/epoll.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

namespace lcloud::agent {

namespace {

void write_message(int fd, const nlohmann::json& message) {
    const std::string line = message.dump() + "\n";
    size_t done = 0;
    while (done < line.size()) {
        const ssize_t wrote = ::write(fd, line.data() + done, line.size() - done);
        if (wrote < 0 && errno == EINTR) continue;
        if (wrote <= 0) return; // nobody listens any more; the work still finishes
        done += size_t(wrote);
    }
}

[[noreturn]] void run_child(int fd, const Agent::JobWork& work) {
    ::setpgid(0, 0);
    ::signal(SIGPIPE, SIG_IGN);
    int code = 0;
    try {
        const auto result = work([fd](const std::string& line) {
            write_message(fd, {{"line", line}});
        });
        write_message(fd, {{"result", result}});
    } catch (const runtime::image::build::BuildError& error) {
        write_message(fd, {{"error", {{"kind", "build"}, {"message", error.what()}}}});
        code = 1;
    } catch (const runtime::image::ImageError& error) {
        write_message(fd, {{"error", {{"kind", "image"}, {"message", error.what()}}}});
        code = 1;
    } catch (const AgentError& error) {
        write_message(fd, {{"error", {{"kind", error.kind()}, {"message", error.what()}}}});
        code = 1;
    } catch (const std::exception& error) {
        write_message(fd, {{"error", {{"kind", "failed"}, {"message", error.what()}}}});
        code = 1;
    }
    ::_exit(code);
}

} // namespace

struct Agent::Job {
    Fd output;
    Fd pidfd;
    pid_t pid = 0;
    std::string buffer;
    nlohmann::json outcome;
    Session* session = nullptr;
    int64_t id = 0;
    std::string what;
};

void Agent::start_job(Session& session, int64_t id, const std::string& what, const JobWork& work) {
    int pipe_fds[2];
    if (::pipe2(pipe_fds, O_CLOEXEC) != 0) throw_errno("pipe", what);
    Fd read_end(pipe_fds[0]);
    Fd write_end(pipe_fds[1]);
    const pid_t child = ::fork();
    if (child < 0) throw_errno("fork", what);
    if (child == 0) {
        read_end.reset();
        run_child(write_end.get(), work);
    }
    write_end.reset();
    auto job = std::make_shared<Job>();
    job->output = std::move(read_end);
    job->pid = child;
    job->pidfd = Fd(static_cast<int>(::syscall(SYS_pidfd_open, child, 0)));
    if (!job->pidfd) throw_errno("pidfd_open", what);
    job->session = &session;
    job->id = id;
    job->what = what;
    set_nonblocking(job->output.get());
    ++jobs_;
    spdlog::info("agent: {} started (pid {})", what, child);

    loop_.watch(job->output.get(), EPOLLIN, [this, job](uint32_t) { read_job_output(*job); });
    loop_.watch(job->pidfd.get(), EPOLLIN, [this, job](uint32_t) {
        loop_.unwatch(job->pidfd.get());
        int status = 0;
        ::waitpid(job->pid, &status, 0);
        read_job_output(*job);
        if (job->output) {
            loop_.unwatch(job->output.get());
            job->output.reset();
        }
        --jobs_;
        const bool listening = sessions_.count(job->session) > 0;
        if (job->outcome.contains("result")) {
            spdlog::info("agent: {} done", job->what);
            if (listening) job->session->respond(job->id, job->outcome.at("result"));
        } else {
            const auto error = job->outcome.value(
                "error",
                nlohmann::json{{"kind", "failed"},
                               {"message", fmt::format("{} ended without an answer (exit code {})",
                                                       job->what, runtime::exit_code_of(status))}});
            spdlog::warn("agent: {} failed: {}", job->what, error.value("message", ""));
            if (listening)
                job->session->fail(job->id, error.value("kind", "failed"),
                                   error.value("message", ""));
        }
        check_idle();
    });
}

void Agent::read_job_output(Job& job) {
    if (!job.output) return;
    char chunk[65536];
    bool at_end = false;
    for (;;) {
        const ssize_t got = ::read(job.output.get(), chunk, sizeof chunk);
        if (got > 0) {
            job.buffer.append(chunk, size_t(got));
            continue;
        }
        if (got < 0 && errno == EINTR) continue;
        at_end = got == 0 || errno != EAGAIN;
        break;
    }
    size_t start = 0;
    for (size_t end; (end = job.buffer.find('\n', start)) != std::string::npos; start = end + 1) {
        auto message = nlohmann::json::parse(job.buffer.substr(start, end - start), nullptr, false);
        if (message.is_discarded()) continue;
        if (message.contains("line")) {
            if (sessions_.count(job.session))
                job.session->stream(job.id, {{"stream", "progress"}, {"line", message["line"]}});
        } else {
            job.outcome = std::move(message);
        }
    }
    job.buffer.erase(0, start);
    if (at_end) {
        loop_.unwatch(job.output.get());
        job.output.reset();
    }
}

} // namespace lcloud::agent

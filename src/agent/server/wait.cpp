#include "agent/server/wait.hpp"

#include "agent/protocol/protocol.hpp"
#include "agent/server/session.hpp"
#include "agent/supervisor/supervisor.hpp"

#include <algorithm>
#include <optional>

namespace lcloud::agent {

namespace {

struct WaitStream : Session::Stream {
    Supervisor* supervisor = nullptr;
    EventLoop* loop = nullptr;
    int subscription = 0;
    std::optional<EventLoop::TimerId> answer;
    ~WaitStream() override {
        supervisor->unsubscribe(subscription);
        if (answer) loop->cancel(*answer);
    }
};

} // namespace

bool service_meets(const Supervisor& supervisor, const std::string& environment,
                   const std::string& service, const std::string& condition) {
    bool any = false;
    for (const auto& status : supervisor.list(environment)) {
        if (status.spec.service != service) continue;
        any = true;
        const bool meets = condition == "completed"
                               ? status.state == "exited"
                               : status.state == "running" && status.health == "healthy";
        if (!meets) return false;
    }
    return any;
}

void start_wait(Session& session, int64_t id, Supervisor& supervisor, EventLoop& loop,
                const nlohmann::json& params) {
    const auto environment = params.at("environment").get<std::string>();
    const auto service = params.at("service").get<std::string>();
    const auto condition = params.value("condition", "healthy");
    if (condition != "healthy" && condition != "completed")
        throw AgentError("protocol", "container.wait: condition is \"healthy\" or \"completed\", "
                                     "not \"" +
                                         condition + "\"");
    const auto timeout = std::chrono::milliseconds(
        std::clamp<int64_t>(params.value("timeout_ms", int64_t{1000}), 0, 60'000));
    if (service_meets(supervisor, environment, service, condition)) {
        session.respond(id, {{"met", true}});
        return;
    }
    auto stream = std::make_unique<WaitStream>();
    auto* waiting = stream.get();
    waiting->supervisor = &supervisor;
    waiting->loop = &loop;
    // Answered from a timer, never from within the event: the answer ends the stream, and with
    // it this subscription.
    const auto answer_after = [&session, &supervisor, &loop, id, waiting, environment, service,
                               condition](Clock::duration delay) {
        if (waiting->answer) loop.cancel(*waiting->answer);
        waiting->answer =
            loop.after(delay, [&session, &supervisor, id, environment, service, condition] {
                session.respond(
                    id, {{"met", service_meets(supervisor, environment, service, condition)}});
            });
    };
    waiting->subscription = supervisor.subscribe([waiting, answer_after, environment,
                                                  service](const nlohmann::json& event) {
        if (event.value("environment", "") != environment || event.value("service", "") != service)
            return;
        answer_after(Clock::duration(0));
    });
    answer_after(timeout);
    session.open_stream(id, std::move(stream));
}

} // namespace lcloud::agent

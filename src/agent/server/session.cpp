#include "agent/server/session.hpp"

#include "agent/agent.hpp"
#include "agent/protocol/protocol.hpp"
#include "runtime/image/errors.hpp"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

namespace lcloud::agent {

Session::Session(Agent& agent, EventLoop& loop, Fd input, Fd output) : agent_(agent) {
    channel_ = std::make_unique<LineChannel>(
        loop, std::move(input), std::move(output),
        [this](nlohmann::json message) { on_message(std::move(message)); },
        [this, &loop] {
            // Not from inside our own channel's handler: the agent destroys us.
            loop.after(Clock::duration(0), [this] { agent_.session_closed(this); });
        });
}

Session::~Session() {
    streams_.clear();
    channel_.reset();
}

void Session::respond(int64_t id, const nlohmann::json& result) {
    streams_.erase(id);
    if (channel_) channel_->send({{"id", id}, {"result", result}});
}

void Session::fail(int64_t id, const std::string& kind, const std::string& message) {
    streams_.erase(id);
    if (channel_) channel_->send({{"id", id}, {"error", {{"kind", kind}, {"message", message}}}});
}

void Session::stream(int64_t id, nlohmann::json message) {
    message["id"] = id;
    if (channel_) channel_->send(message);
}

void Session::open_stream(int64_t id, std::unique_ptr<Stream> stream) {
    streams_[id] = std::move(stream);
}

void Session::close_stream(int64_t id) {
    streams_.erase(id);
}

void Session::on_message(nlohmann::json message) {
    const int64_t id = message.value("id", int64_t{-1});
    const std::string method = message.value("method", "");
    const nlohmann::json params = message.value("params", nlohmann::json::object());
    if (method.empty()) {
        fail(id, "protocol", "a request needs a \"method\"");
        return;
    }
    if (method == "hello") {
        const int version = params.value("protocol", 0);
        if (version != protocol_version) {
            fail(id, "protocol",
                 fmt::format("this agent speaks protocol {}, the client {}; use an lcloud and "
                             "an lcloud-agent of the same version",
                             protocol_version, version));
            return;
        }
        greeted_ = true;
        respond(id, {{"protocol", protocol_version}, {"agent", LCLOUD_VERSION}});
        return;
    }
    if (!greeted_) {
        fail(id, "protocol", "the first request must be \"hello\"");
        return;
    }
    if (method == "cancel") {
        const int64_t target = params.value("id", int64_t{-1});
        if (streams_.erase(target)) respond(target, {{"cancelled", true}});
        respond(id, nlohmann::json::object());
        return;
    }
    if (method == "input") {
        const auto found = streams_.find(params.value("id", int64_t{-1}));
        if (found != streams_.end()) found->second->input(params);
        return; // no response: input is a one-way message
    }
    try {
        nlohmann::json result = agent_.handle(*this, id, method, params);
        if (!result.is_null()) respond(id, result);
    } catch (const AgentError& error) {
        fail(id, error.kind(), error.what());
    } catch (const runtime::image::ImageError& error) {
        fail(id, "image", error.what());
    } catch (const nlohmann::json::exception& error) {
        fail(id, "protocol", fmt::format("{}: bad parameters: {}", method, error.what()));
    } catch (const std::exception& error) {
        fail(id, "failed", error.what());
    }
}

} // namespace lcloud::agent

#pragma once

#include "agent/event_loop.hpp"

#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>

namespace lcloud::agent {

class Session;
class Supervisor;

// `logs`: the last `tail` entries (all when negative), then, with `follow`, every new one
// (across restarts and rotations) until the client cancels or the container is removed.
void start_log_stream(Session& session, int64_t id, Supervisor& supervisor, EventLoop& loop,
                      const std::string& container, int64_t tail, bool follow);

// `exec`: a process in a running container, its stdout and stderr streamed as base64 "data",
// its stdin taken from "input" messages ({"data": base64} or {"eof": true}); the response
// carries its exit code. With "tty": true its terminal is one stream.
void start_exec(Session& session, int64_t id, Supervisor& supervisor, EventLoop& loop,
                const std::string& container, const nlohmann::json& params);

// `events`: the supervisor's events (of one environment, when given) as they happen.
void start_event_stream(Session& session, int64_t id, Supervisor& supervisor,
                        const std::string& environment);

} // namespace lcloud::agent

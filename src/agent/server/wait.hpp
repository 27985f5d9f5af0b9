#pragma once

#include "agent/event_loop.hpp"

#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>

namespace lcloud::agent {

class Session;
class Supervisor;

// Whether every container of `service` in `environment` is there and meets `condition`:
// "healthy" (running and healthy) or "completed" (exited).
bool service_meets(const Supervisor& supervisor, const std::string& environment,
                   const std::string& service, const std::string& condition);

// `container.wait`: answers {"met": bool} once the service meets its condition, at the first
// event of one of its containers (a start, a health change, an exit: the client looks again),
// or after `timeout_ms`. An `up` waiting on depends_on learns of the passing health check at
// once, rather than at its next look.
void start_wait(Session& session, int64_t id, Supervisor& supervisor, EventLoop& loop,
                const nlohmann::json& params);

} // namespace lcloud::agent

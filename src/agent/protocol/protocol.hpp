#pragma once

// The agent protocol: JSON lines, one message per line, both ways.
//   request   {"id": N, "method": "container.create", "params": {...}}
//   response  {"id": N, "result": {...}}   or   {"id": N, "error": {"kind": K, "message": M}}
//   stream    {"id": N, "stream": "stdout" | "stderr" | "log" | "event" | "progress", ...}
//             zero or more before the response of a streaming request
// The first request of a session is "hello" {"protocol": 1}; the agent answers with its
// version and protocol, and refuses a protocol it does not speak.

#include "common/error.hpp"

#include <nlohmann/json.hpp>
#include <string>
#include <string_view>

namespace lcloud::agent {

inline constexpr int protocol_version = 1;

// An error the agent reported for a request; `kind` lets a caller act on it.
class AgentError : public Error {
  public:
    AgentError(std::string kind, const std::string& message)
        : Error(message), kind_(std::move(kind)) {}
    const std::string& kind() const { return kind_; }

  private:
    std::string kind_;
};

std::string base64_encode(std::string_view bytes);
// Throws AgentError("protocol", ...) on a character outside the alphabet.
std::string base64_decode(std::string_view text);

} // namespace lcloud::agent

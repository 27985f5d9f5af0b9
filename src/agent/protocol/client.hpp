#pragma once

// The caller's end of the agent protocol: blocking, one request at a time, over any pair of
// fds (a unix socket, a child's stdin and stdout, an SSH channel bridged to fds).

#include "agent/protocol/protocol.hpp"
#include "common/fd.hpp"

#include <chrono>
#include <functional>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <sys/types.h>
#include <vector>

namespace lcloud::agent {

class AgentClient {
  public:
    // Says hello; throws AgentError when the agent speaks another protocol.
    AgentClient(Fd input, Fd output, std::string description);
    // The same over a carrier that must outlive the fds (an SSH bridge, say): it goes after them.
    AgentClient(Fd input, Fd output, std::string description, std::shared_ptr<void> carrier);
    AgentClient(AgentClient&& other) noexcept;
    AgentClient& operator=(AgentClient&&) = delete;
    ~AgentClient();

    // Connects to a serving agent's unix socket; nullopt when nobody listens there.
    static std::optional<AgentClient> connect_unix(const std::string& path);
    // Runs `argv` (e.g. {"lcloud-agent", "stdio", ...}) as a child speaking on its stdio.
    static AgentClient spawn(const std::vector<std::string>& argv);

    nlohmann::json call(const std::string& method, const nlohmann::json& params = {});
    // For streaming requests: `on_stream` gets each stream message until the response. It may
    // call send_input() for this request.
    using StreamHandler = std::function<void(const nlohmann::json& message)>;
    nlohmann::json call_streaming(const std::string& method, const nlohmann::json& params,
                                  const StreamHandler& on_stream,
                                  // polled alongside the agent; gets readable fds' numbers
                                  const std::vector<int>& extra_fds = {},
                                  const std::function<void(int fd)>& on_extra = {});
    void send_input(const nlohmann::json& params);
    // Ends the streaming request `request`: its call_streaming returns.
    void cancel(int64_t request);
    // The id of the request call_streaming is serving.
    int64_t current_request() const { return current_; }

  private:
    void send(const nlohmann::json& message);
    nlohmann::json receive(const std::vector<int>& extra_fds,
                           const std::function<void(int)>& on_extra);

    Fd input_;  // from the agent
    Fd output_; // to the agent (may be the same socket: then empty)
    std::string description_;
    std::string buffer_;
    int64_t next_id_ = 1;
    int64_t current_ = 0;
    pid_t child_ = 0;
    std::shared_ptr<void> carrier_;
};

} // namespace lcloud::agent

#pragma once

// lcloud-agent: serves the agent protocol (protocol/protocol.hpp) to any number of sessions —
// clients on a unix socket, or one on stdin and stdout — over one supervisor.

#include "agent/event_loop.hpp"
#include "agent/shares/shares.hpp"
#include "agent/supervisor/supervisor.hpp"

#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>

namespace lcloud::runtime {
class StateStore;
}
namespace lcloud::runtime::image {
class Store;
}
namespace lcloud::runtime::network {
class Networks;
}

namespace lcloud::agent {

class DnsServer;
class PortForwarder;
class Session;

struct AgentOptions {
    std::filesystem::path root = "/var/lib/lcloud/agent";
    // Exit once no container is left and no client is connected (the local provider's agent,
    // so that `destroy` leaves no process behind).
    bool exit_when_empty = false;
    // The images' layers are fsync'ed before they count (off in tests).
    bool durable_images = true;
};

class Agent {
  public:
    // Takes the root's lock (one agent per root; AgentError "busy" naming the holder) and
    // recovers the containers of a previous agent.
    explicit Agent(AgentOptions options);
    ~Agent();

    // Accepts clients on a unix socket at `path` (replacing a stale one).
    void listen(const std::filesystem::path& path);
    // Also accepts clients on TCP at "ADDRESS:PORT" (in the VM: loopback, which the host
    // reaches through an SSH direct-tcpip channel; never a public address, there is no auth).
    void listen_tcp(const std::string& address);
    // Serves one client on these fds; the loop stops when it leaves.
    void serve_stdio(int input, int output);
    // Until SIGTERM or SIGINT (containers keep running), or empty with exit_when_empty.
    void run();

    EventLoop& loop() { return loop_; }
    Supervisor& supervisor() { return *supervisor_; }
    runtime::image::Store& images() { return *images_; }
    runtime::network::Networks& networks() { return *networks_; }

    // Used by sessions.
    nlohmann::json handle(Session& session, int64_t id, const std::string& method,
                          const nlohmann::json& params);
    void session_closed(Session* session);
    void check_idle();

    // Work for a child process; it gets a sink for progress lines and returns the result.
    using JobWork =
        std::function<nlohmann::json(const std::function<void(const std::string& line)>& progress)>;
    // Runs `work` in a child of the agent, streaming its progress lines to the request `id` and
    // answering with its result (or its error).
    void start_job(Session& session, int64_t id, const std::string& what, const JobWork& work);

  private:
    void accept_clients(int listener);
    // `keep_network`: for reset, which makes the same containers again at once.
    nlohmann::json destroy_environment(Session& session, int64_t id, const std::string& env,
                                       bool keep_network);
    nlohmann::json halt_environment(Session& session, int64_t id, const std::string& env);
    struct Job;
    void read_job_output(Job& job);

    AgentOptions options_;
    Fd lock_;
    EventLoop loop_;
    std::unique_ptr<runtime::image::Store> images_;
    std::unique_ptr<runtime::StateStore> runtime_;
    std::unique_ptr<runtime::network::Networks> networks_;
    std::unique_ptr<PortForwarder> ports_;
    std::unique_ptr<DnsServer> dns_;
    std::unique_ptr<Supervisor> supervisor_;
    Fd listener_;
    Fd tcp_listener_;
    std::filesystem::path socket_path_;
    Fd signals_;
    std::map<Session*, std::unique_ptr<Session>> sessions_;
    bool stdio_session_ = false;
    int jobs_ = 0;
    // What shares.detach took from the containers before the VM was saved.
    std::vector<DetachedShare> detached_shares_;
};

} // namespace lcloud::agent

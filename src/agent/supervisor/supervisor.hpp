#pragma once

// The containers of one agent: made from images, started with the runtime library, reaped and
// restarted by policy, health-checked, their output logged, their ports published and their
// names served, all from the agent's one event loop. No process per container besides its own.

#include "agent/event_loop.hpp"
#include "agent/protocol/spec.hpp"
#include "agent/supervisor/bundle.hpp"

#include <functional>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <set>
#include <string>
#include <vector>

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

class PortForwarder;
class DnsServer;

// Where the agent keeps everything, under one root.
struct AgentPaths {
    std::filesystem::path root;
    std::filesystem::path images() const { return root / "images"; }
    std::filesystem::path runtime() const { return root / "runtime"; }
    std::filesystem::path networks() const { return root / "networks"; }
    std::filesystem::path containers() const { return root / "containers"; }
    std::filesystem::path volumes() const { return root / "volumes"; }
    ContainerPaths container(const std::string& id) const { return {containers() / id}; }
};

struct SupervisorServices {
    EventLoop& loop;
    runtime::image::Store& images;
    runtime::StateStore& runtime;
    runtime::network::Networks& networks;
    PortForwarder& ports;
    DnsServer& dns;
    AgentPaths paths;
};

class Supervisor {
  public:
    using Done = std::function<void()>;
    using EventSink = std::function<void(const nlohmann::json& event)>;

    explicit Supervisor(SupervisorServices services);
    Supervisor(const Supervisor&) = delete;
    Supervisor& operator=(const Supervisor&) = delete;
    // Leaves the containers running, for the next agent to adopt.
    ~Supervisor();

    // Takes back what the previous agent left: running containers are adopted, dead ones
    // cleaned up and restarted by their policy, runtime containers without a record killed.
    void recover();
    // Sets up the networks of the recorded containers, ahead of their start: at boot the next
    // `up` then finds them ready.
    void prepare_networks();

    // Creates and starts a container. Throws Error (unknown image, taken id, bad spec) having
    // left nothing behind.
    ContainerStatus create(const ContainerSpec& spec);
    // Starts a container that is not running (stopped, exited).
    void start(const std::string& id);
    // SIGTERM, then SIGKILL after the spec's grace period; `done` runs once it has exited
    // (at once when it is not running). No restart policy applies afterwards. With `kill`,
    // SIGKILL at once.
    void stop(const std::string& id, Done done, bool kill = false);
    // Stops it if needed, then removes its files, mounts, address and ports.
    void remove(const std::string& id, Done done, bool kill = false);

    std::vector<ContainerStatus> list(const std::string& environment = "") const;
    ContainerStatus status(const std::string& id) const;
    bool exists(const std::string& id) const { return containers_.count(id) != 0; }
    bool empty() const { return containers_.empty(); }

    int subscribe(EventSink sink);
    void unsubscribe(int subscription);

    // The log directory of a container (its record dir).
    std::filesystem::path log_dir(const std::string& id) const;
    const AgentPaths& paths() const { return services_.paths; }
    runtime::StateStore& runtime_store() { return services_.runtime; }
    // To be called when a network is removed behind the supervisor's back (destroy).
    void forget_network(const std::string& name) { ready_networks_.erase(name); }

    struct Managed;

  private:
    Managed& get(const std::string& id) const;
    void launch(Managed& container);
    void watch_exit(Managed& container);
    void on_exit(Managed& container);
    void release_runtime(Managed& container);
    void apply_restart_policy(Managed& container);
    void publish_ports(Managed& container);
    void unpublish_ports(Managed& container);
    void refresh_names(const std::string& network);
    void schedule_health(Managed& container, Clock::duration delay);
    void schedule_next_health(Managed& container);
    void run_health_check(Managed& container);
    void on_health_result(Managed& container, bool passed);
    void send_stop_signal(Managed& container);
    void watch_stop_signal(Managed& container);
    void save(const Managed& container) const;
    void emit(const Managed& container, const std::string& action);
    void finish_removal(Managed& container);
    void adopt(std::unique_ptr<Managed> container);

    SupervisorServices services_;
    std::map<std::string, std::unique_ptr<Managed>> containers_;
    std::map<int, EventSink> sinks_;
    std::set<std::string> dns_addresses_; // gateways the DNS server listens on
    // Networks made ready (bridge, addresses, nftables) by this agent: checking one costs
    // milliseconds, too much for every container start. A failed attach checks it again.
    std::map<std::string, std::string> ready_networks_; // name -> gateway
    std::string ready_network(const std::string& name);
    int next_sink_ = 1;
};

} // namespace lcloud::agent

#include "providers/libvirt/agent_transport.hpp"

#include "providers/libvirt/libvirt_machine.hpp"
#include "providers/ssh_target.hpp"
#include "ssh/channel_bridge.hpp"
#include "ssh/errors.hpp"

#include <fmt/format.h>
#include <memory>
#include <spdlog/spdlog.h>
#include <thread>

namespace lcloud::providers::libvirt {

namespace {

agent::AgentClient bridged_client(ssh::Session session, ssh::ChannelHandle channel,
                                  const std::string& description) {
    auto bridge = std::make_shared<ssh::ChannelBridge>(std::move(session), std::move(channel));
    // One socket both ways: AgentClient writes to its input when output is empty.
    Fd socket = bridge->take_socket();
    return agent::AgentClient(std::move(socket), Fd(), description, std::move(bridge));
}

} // namespace

agent::AgentClient connect_agent_over_ssh(const SshEndpoint& endpoint,
                                          std::chrono::milliseconds wait) {
    auto session = ssh::Session::connect(ssh_target(endpoint));
    const std::string description = fmt::format("the agent in the VM ({})", session.where());
    spdlog::debug("{}: SSH session up", description);
    const auto deadline = std::chrono::steady_clock::now() + wait;
    std::string refused;
    for (int attempt = 1;; ++attempt) {
        try {
            auto channel = session.open_forward("127.0.0.1", agent_tcp_port);
            if (attempt > 1)
                spdlog::debug("{}: answered at attempt {} (before: {})", description, attempt,
                              refused);
            return bridged_client(std::move(session), std::move(channel), description);
        } catch (const ssh::SshError& error) {
            refused = error.what();
        }
        if (std::chrono::steady_clock::now() >= deadline) break;
        std::this_thread::sleep_for(std::chrono::milliseconds(25));
    }
    spdlog::debug("{}: {}; trying lcloud-agent attach", description, refused);
    try {
        auto channel = session.open_exec("lcloud-agent attach --socket /run/lcloud/agent.sock");
        return bridged_client(std::move(session), std::move(channel), description);
    } catch (const Error& error) {
        throw Error(fmt::format("{} does not answer: {}; and 'lcloud-agent attach': {}. See its "
                                "log: lcloud ssh -- tail /var/lib/lcloud/agent.log",
                                description, refused, error.what()));
    }
}

agent::AgentClient LibvirtMachine::connect_agent(std::chrono::milliseconds wait) {
    const auto current = status();
    if (current.state != MachineState::running)
        throw MachineNotRunning(fmt::format("the VM {} is {}; run 'lcloud up'", domain_name_,
                                            to_string(current.state)));
    return connect_agent_over_ssh(ssh_endpoint(), wait);
}

} // namespace lcloud::providers::libvirt

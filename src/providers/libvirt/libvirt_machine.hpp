#pragma once

#include "project/model.hpp"
#include "providers/libvirt/console_watch.hpp"
#include "providers/libvirt/handles.hpp"
#include "providers/machine.hpp"

#include <filesystem>
#include <nlohmann/json.hpp>
#include <optional>

namespace lcloud::providers::libvirt {

struct MachineConfig {
    std::string project_name;
    std::filesystem::path project_dir;
    std::filesystem::path state_dir; // .lcloud
    project::Vm vm;
    std::vector<project::SharedFolder> shares;
    std::filesystem::path agent_binary; // put into the box when `up` has to build it
};

// "lcloud-<name>-<8 hex of the project path's sha256>": two checkouts never collide.
std::string domain_name_for(const std::string& project_name,
                            const std::filesystem::path& project_dir);

class LibvirtMachine final : public Machine {
  public:
    explicit LibvirtMachine(MachineConfig config);

    MachineStatus status() override;
    void up(const Progress& progress) override;
    void halt(std::chrono::seconds timeout) override;
    void suspend() override;
    void resume(const Progress& progress) override;
    void reload(const Progress& progress) override;
    void snapshot_save(const std::string& name) override;
    void snapshot_restore(const std::string& name) override;
    void snapshot_delete(const std::string& name) override;
    std::vector<std::string> snapshot_list() override;
    // In pristine.cpp.
    bool has_pristine() override;
    void save_pristine(bool before_containers, bool images_changed) override;
    void restore_pristine(const Progress& progress) override;
    DestroyReport destroy(bool keep_images) override;
    SshEndpoint ssh_endpoint() override;
    // In agent_transport.cpp.
    agent::AgentClient connect_agent(std::chrono::milliseconds wait) override;

    const std::string& domain_name() const { return domain_name_; }
    std::filesystem::path console_log() const { return config_.state_dir / "console.log"; }
    // Outside the project: a socket's path must be short.
    std::filesystem::path console_socket() const {
        return std::filesystem::path("/run/lcloud/consoles") / (domain_name_ + ".sock");
    }

  private:
    virConnectPtr connection();
    DomainHandle lookup();
    DomainHandle require(const std::string& action);
    MachineState state_of(virDomainPtr domain);
    bool still_starting(virDomainPtr domain);
    void wait_while_starting(virDomainPtr domain);
    void wait_for_jobs(virDomainPtr domain);
    std::string guest_address(); // "192.168.122.150", from the reservation
    std::string choose_driver(Progress progress);
    void create_and_boot(const Progress& progress);
    // What the wait does at the boot checkpoint (see boot_checkpoint.hpp): take it (a first
    // boot), or only tell the guest to go on (a restore, or a boot a killed `up` left there).
    enum class CheckpointStep { none, take, go_on };
    void wait_until_ready(const Progress& progress, CheckpointStep step = CheckpointStep::none);
    void wait_for_ssh(std::chrono::milliseconds timeout);
    // Pins the host key the guest printed on its console, unless one is pinned already (and
    // refuses another one).
    void pin_host_key(const ReadyReport& report);
    // Runs a command in the guest as root; throws on a non-zero exit.
    std::string guest_run(const std::string& command);
    std::chrono::milliseconds boot_timeout() const;
    // The environment's SSH public key as the guest takes it ("TYPE:BASE64"), made when missing.
    std::string ssh_key_word();
    // For destroy (in image_cache.cpp): the data disk as of its pristine state, taken before any
    // container existed, becomes the project's image cache.
    // Returns what it kept, or why it could not.
    std::optional<std::string> keep_image_cache(const nlohmann::json& record);
    // .lcloud/machine.json (address, driver, box) as up wrote it; empty when there is none.
    nlohmann::json machine_record() const;

    MachineConfig config_;
    std::string domain_name_;
    std::string mac_;
    std::string driver_;
    ConnectionHandle connection_;
};

} // namespace lcloud::providers::libvirt

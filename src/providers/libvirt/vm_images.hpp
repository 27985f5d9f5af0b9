#pragma once

// The images of a libvirt environment: build contexts packed on the host and unpacked in the
// VM for its agent's builder, base images copied from this host's image store. An unchanged
// context is not carried again: its digest is kept in .lcloud/builds.json with the id of the
// image it gave, and while the VM still has that image nothing is done.

#include "engine/image_carrier.hpp"
#include "providers/machine.hpp"
#include "ssh/session.hpp"

#include <filesystem>
#include <optional>
#include <string>

namespace lcloud::providers::libvirt {

class VmImages final : public engine::ImageCarrier {
  public:
    // `host_images`: this host's image store (the host agent's ROOT/images).
    VmImages(SshEndpoint endpoint, std::filesystem::path state_dir,
             std::filesystem::path host_images, std::string vm_name);

    void build(agent::AgentClient& agent, const engine::PlannedContainer& planned,
               const nlohmann::json& params, const RunBuild& run,
               const engine::Progress& progress) override;
    bool carry_image(agent::AgentClient& agent, const std::string& reference,
                     const engine::Progress& progress) override;
    std::string where() const override { return "the VM " + vm_name_; }

  private:
    ssh::Session& session(); // connected at the first use
    // Runs `command` in the VM; throws naming `what` on a non-zero exit.
    void guest(const std::string& command, const std::string& what, int in_fd = -1);

    SshEndpoint endpoint_;
    std::filesystem::path state_dir_;
    std::filesystem::path host_images_;
    std::string vm_name_;
    std::optional<ssh::Session> session_;
};

// Where the VM keeps what is carried in while it is used (on its data disk).
inline constexpr const char* guest_upload_dir = "/var/lib/lcloud/uploads";

} // namespace lcloud::providers::libvirt

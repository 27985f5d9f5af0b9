#pragma once

// Which lcloud-agent a VM gets: the box's, or, when this lcloud's own lcloud-agent differs from
// it, an image of ours (box/agent_image.hpp), so that a new lcloud needs no new box.

#include "box/box_store.hpp"
#include "providers/libvirt/handles.hpp"
#include "providers/machine.hpp"

#include <filesystem>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

namespace lcloud::providers::libvirt {

struct AgentDisk {
    std::optional<std::filesystem::path> image; // none for a disk box, which brings its own
    std::string digest;      // of the program the image was made from; empty when unknown
    std::string description; // "0.1.0 (protocol 1) sha256:1443ed287257"
};

// The box's agent.img when the box carries `agent_binary` (or when there is no such program
// here), else the cached image of `agent_binary`, made when missing; says which in `progress`.
AgentDisk choose_agent_disk(virConnectPtr connection, const box::Box& box,
                            const std::filesystem::path& agent_binary, const Progress& progress);

// The cached agent images (under box::agents_root()) that a domain or one of its snapshots
// names.
std::vector<std::filesystem::path> agent_images_in_use(virConnectPtr connection);

// A VM that runs keeps the agent it booted with (`record` is its .lcloud/machine.json, which
// names it): the warning line to print when `agent_binary` is another, else nullopt. Nothing
// for a VM booted before machine.json named its agent, or when there is no such program here.
std::optional<std::string> running_agent_warning(const nlohmann::json& record,
                                                 const std::filesystem::path& agent_binary);

} // namespace lcloud::providers::libvirt

#include "providers/libvirt/agent_disk.hpp"

#include "box/agent_image.hpp"
#include "providers/libvirt/xml.hpp"

#include <algorithm>
#include <fmt/format.h>
#include <spdlog/spdlog.h>

namespace lcloud::providers::libvirt {

namespace fs = std::filesystem;

std::vector<fs::path> agent_images_in_use(virConnectPtr connection) {
    std::vector<fs::path> images;
    const auto root = box::agents_root().string() + "/";
    virDomainPtr* domains = nullptr;
    const int count = virConnectListAllDomains(connection, &domains, 0);
    const auto collect = [&](const char* xml, const std::string& xpath) {
        if (!xml) return;
        for (auto& file : xml_select(xml, xpath, "a domain's definition"))
            if (file.starts_with(root)) images.emplace_back(std::move(file));
    };
    for (int i = 0; i < count; ++i) {
        DomainHandle domain(domains[i]);
        OwnedString xml(virDomainGetXMLDesc(domain.get(), VIR_DOMAIN_XML_INACTIVE));
        collect(xml.get(), "/domain/devices/disk/source/@file");
        // A snapshot goes back to the disks it was taken with, an older agent's among them.
        virDomainSnapshotPtr* snapshots = nullptr;
        const int taken = virDomainListAllSnapshots(domain.get(), &snapshots, 0);
        for (int j = 0; j < taken; ++j) {
            SnapshotHandle snapshot(snapshots[j]);
            OwnedString described(virDomainSnapshotGetXMLDesc(snapshot.get(), 0));
            collect(described.get(), "/domainsnapshot/domain/devices/disk/source/@file");
        }
        ::free(snapshots);
    }
    ::free(domains);
    return images;
}

AgentDisk choose_agent_disk(virConnectPtr connection, const box::Box& box,
                            const fs::path& agent_binary, const Progress& progress) {
    AgentDisk disk;
    disk.image = box.file("agent");
    if (!disk.image) return disk;
    disk.digest = box.manifest.value("agent_sha256", "");
    disk.description = box::describe_agent(box.manifest.value("agent", ""), disk.digest);
    std::error_code error;
    if (agent_binary.empty() || !fs::is_regular_file(agent_binary, error)) {
        spdlog::debug("no lcloud-agent at '{}': the VM gets the box's, {}", agent_binary.string(),
                      disk.description);
        return disk;
    }
    const auto digest = box::agent_digest(agent_binary);
    if (digest == disk.digest) return disk;
    const auto ours = box::describe_agent(box::agent_version_line(agent_binary), digest);
    progress(fmt::format("installing lcloud-agent {} into the VM (the box has {})", ours,
                         disk.description));
    const auto in_use = agent_images_in_use(connection);
    disk.image = box::ensure_agent_image(agent_binary, digest, [&in_use](const fs::path& image) {
        return std::find(in_use.begin(), in_use.end(), image) != in_use.end();
    });
    disk.digest = digest;
    disk.description = ours;
    return disk;
}

std::optional<std::string> running_agent_warning(const nlohmann::json& record,
                                                 const fs::path& agent_binary) {
    const auto running = record.value("agent_sha256", "");
    std::error_code error;
    if (running.empty() || agent_binary.empty() || !fs::is_regular_file(agent_binary, error))
        return std::nullopt;
    try {
        const auto digest = box::agent_digest(agent_binary);
        if (digest == running) return std::nullopt;
        return fmt::format("warning: the VM runs lcloud-agent {}, not this lcloud's {}; 'lcloud "
                           "reload' installs it (and restarts the containers)",
                           record.value("agent", box::describe_agent("", running)),
                           box::describe_agent(box::agent_version_line(agent_binary), digest));
    } catch (const std::exception& failure) {
        // A check that only warns must not stop `up`.
        spdlog::debug("comparing the VM's lcloud-agent with {}: {}", agent_binary.string(),
                      failure.what());
        return std::nullopt;
    }
}

} // namespace lcloud::providers::libvirt

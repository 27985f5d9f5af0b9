#include "providers/libvirt/disk_snapshots.hpp"

#include "common/command.hpp"
#include "providers/libvirt/errors.hpp"
#include "providers/libvirt/handles.hpp"
#include "providers/libvirt/xml.hpp"

#include <fmt/format.h>
#include <libvirt/libvirt-qemu.h>
#include <nlohmann/json.hpp>

namespace lcloud::providers::libvirt {

namespace {

nlohmann::json monitor(virDomainPtr domain, const nlohmann::json& command,
                       const std::string& what) {
    char* reply = nullptr;
    if (virDomainQemuMonitorCommand(domain, command.dump().c_str(), &reply, 0) != 0)
        throw_libvirt(what);
    OwnedString owned(reply);
    auto answer = nlohmann::json::parse(reply, nullptr, false);
    if (answer.is_object() && answer.contains("error"))
        throw LibvirtError(fmt::format("{}: QEMU says {}", what,
                                       answer["error"].value("desc", answer["error"].dump())));
    return answer;
}

nlohmann::json transaction(const std::vector<WritableDisk>& disks, const char* action,
                           const std::string& snapshot) {
    nlohmann::json actions = nlohmann::json::array();
    for (const auto& disk : disks)
        actions.push_back(
            {{"type", action}, {"data", {{"device", disk.node}, {"name", snapshot}}}});
    return {{"execute", "transaction"}, {"arguments", {{"actions", actions}}}};
}

} // namespace

std::vector<WritableDisk> writable_disks(virDomainPtr domain, const std::string& domain_name) {
    OwnedString xml(virDomainGetXMLDesc(domain, 0));
    if (!xml) throw_libvirt("reading the definition of " + domain_name);
    const std::string disks =
        "/domain/devices/disk[@device='disk'][driver/@type='qcow2'][not(readonly)]";
    const auto indexes = xml_select(xml.get(), disks + "/source/@index", domain_name);
    const auto files = xml_select(xml.get(), disks + "/source/@file", domain_name);
    if (indexes.size() != files.size() || files.empty())
        throw LibvirtError(
            fmt::format("the VM {} shows no writable qcow2 disk with a block node to "
                        "snapshot (libvirt without -blockdev?)",
                        domain_name));
    std::vector<WritableDisk> found;
    for (size_t i = 0; i < files.size(); ++i)
        found.push_back({fmt::format("libvirt-{}-format", indexes[i]), files[i]});
    return found;
}

void snapshot_disks_live(virDomainPtr domain, const std::vector<WritableDisk>& disks,
                         const std::string& snapshot, const std::string& what) {
    try {
        monitor(domain, transaction(disks, "blockdev-snapshot-delete-internal-sync", snapshot),
                "removing an old snapshot " + snapshot);
    } catch (const LibvirtError&) {
    }
    monitor(domain, transaction(disks, "blockdev-snapshot-internal-sync", snapshot), what);
}

std::vector<std::string> disk_snapshot_names(const std::string& file) {
    const auto info =
        nlohmann::json::parse(run_program_checked({"qemu-img", "info", "--output=json", "-U", file},
                                                  "reading the snapshots of " + file),
                              nullptr, false);
    std::vector<std::string> names;
    if (info.is_object())
        for (const auto& snapshot : info.value("snapshots", nlohmann::json::array()))
            names.push_back(snapshot.value("name", ""));
    return names;
}

} // namespace lcloud::providers::libvirt

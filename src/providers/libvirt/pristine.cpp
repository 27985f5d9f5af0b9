// reset's pristine state: an internal qcow2 snapshot of each of the VM's writable disks, taken
// live through QEMU's monitor once the first `up` succeeded, and applied with qemu-img while the
// VM is off. The disks keep their paths, so the boot checkpoint still serves: a reset is a
// power-off, a snapshot apply and a restore, not a boot.
#include "common/clock.hpp"
#include "common/command.hpp"
#include "providers/libvirt/boot_checkpoint.hpp"
#include "providers/libvirt/disk_snapshots.hpp"
#include "providers/libvirt/errors.hpp"
#include "providers/libvirt/libvirt_machine.hpp"
#include "state/atomic_file.hpp"

#include <fmt/format.h>
#include <nlohmann/json.hpp>

namespace lcloud::providers::libvirt {

bool LibvirtMachine::has_pristine() {
    return machine_record().contains("pristine");
}

void LibvirtMachine::save_pristine(bool before_containers, bool images_changed) {
    auto domain = require("save the pristine state");
    if (state_of(domain.get()) != MachineState::running)
        throw MachineNotRunning(fmt::format("the VM {} must run to save its pristine state; "
                                            "'lcloud up' starts it",
                                            domain_name_));
    // What the guest's page cache holds reaches the disks first; the journal covers the rest.
    guest_run("sync");
    const auto disks = writable_disks(domain.get(), domain_name_);
    snapshot_disks_live(domain.get(), disks, pristine_snapshot,
                        fmt::format("taking the pristine snapshot of {}'s disks", domain_name_));
    auto record = machine_record();
    nlohmann::json files = nlohmann::json::array();
    for (const auto& disk : disks)
        files.push_back(disk.file);
    record["pristine"] = {{"taken", now_rfc3339_nanos()},
                          {"disks", files},
                          {"before_containers", before_containers},
                          {"images_changed", images_changed}};
    state::write_file_atomic(config_.state_dir / "machine.json", record.dump(2));
}

void LibvirtMachine::restore_pristine(const Progress& progress) {
    const auto record = machine_record();
    if (!record.contains("pristine"))
        throw LibvirtError(fmt::format("the VM {} has no pristine state yet: it is saved once "
                                       "'lcloud up' has brought every container up",
                                       domain_name_));
    auto domain = require("reset");
    // Everything since the pristine state goes, the running VM and a suspended one's memory too.
    if (virDomainIsActive(domain.get()) == 1 && virDomainDestroy(domain.get()) != 0) {
        const auto why = last_libvirt_error();
        if (state_of(domain.get()) != MachineState::shut_off)
            throw_libvirt(fmt::format("powering off {}", domain_name_), why);
    }
    if (virDomainHasManagedSaveImage(domain.get(), 0) == 1)
        virDomainManagedSaveRemove(domain.get(), 0);
    for (const auto& file : record["pristine"].value("disks", std::vector<std::string>{}))
        run_program_checked({"qemu-img", "snapshot", "-a", pristine_snapshot, file},
                            fmt::format("returning {} to its pristine snapshot", file));
    progress(fmt::format("{}: the disks are back to their pristine state of {}", domain_name_,
                         record["pristine"].value("taken", "?")));
    up(progress);
}

} // namespace lcloud::providers::libvirt

#pragma once

// Internal qcow2 snapshots of a running VM's disks, taken live through QEMU's monitor: libvirt's
// API has no live snapshot of the disks alone. reset's pristine state and the image cache use
// them; libvirt marks the domain "tainted: custom-monitor".

#include <libvirt/libvirt.h>
#include <string>
#include <vector>

namespace lcloud::providers::libvirt {

// reset's pristine state, and the image cache's content.
inline constexpr const char* pristine_snapshot = "lcloud-pristine";

struct WritableDisk {
    std::string node; // QEMU's block node of the disk's format layer
    std::string file;
};

// The running VM's writable qcow2 disks (the box's raw agent disk is read-only).
std::vector<WritableDisk> writable_disks(virDomainPtr domain, const std::string& domain_name);

// Takes the internal snapshot `snapshot` of every disk in `disks` at one instant, replacing a
// snapshot of that name (one a killed run left).
void snapshot_disks_live(virDomainPtr domain, const std::vector<WritableDisk>& disks,
                         const std::string& snapshot, const std::string& what);

// The names of the internal snapshots `file` (a qcow2 the VM does not use now) holds.
std::vector<std::string> disk_snapshot_names(const std::string& file);

} // namespace lcloud::providers::libvirt

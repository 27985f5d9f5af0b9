#pragma once

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <sys/types.h>
#include <vector>

namespace lcloud::providers::libvirt {

struct DomainShare {
    std::string tag; // the 9p mount tag the guest's init looks for
    std::filesystem::path host;
    bool readonly = false;
};

struct DomainSpec {
    std::string name;
    std::string uuid;          // the existing domain's, when it is defined again
    std::string type = "qemu"; // or "kvm"
    int cpus = 2;
    uint64_t memory_bytes = 0;
    // Direct kernel boot (an initramfs box, or a disk box that brings its own kernel).
    std::optional<std::filesystem::path> kernel;
    std::optional<std::filesystem::path> initrd;
    std::string cmdline;
    std::optional<std::filesystem::path> root_disk; // a disk box's overlay
    std::filesystem::path data_disk;
    std::optional<std::filesystem::path> agent_disk; // raw, read-only: the box's agent.img
    std::string network = "lcloud";
    std::string mac;
    std::vector<DomainShare> shares;
    std::filesystem::path console_log;
    // Where QEMU listens for the serial console; empty: a pty.
    std::filesystem::path console_socket;
    uid_t uid = 0; // qemu runs as this user, so that shared folders keep their owner
    gid_t gid = 0;
    std::string project_dir; // recorded in the domain's metadata
};

std::string domain_xml(const DomainSpec& spec);

} // namespace lcloud::providers::libvirt

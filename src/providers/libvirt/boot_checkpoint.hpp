#pragma once

// The boot checkpoint: the VM saved once at the point of its first boot where the kernel is up,
// its modules loaded and its network set, but nothing has read the data disk (the init waits
// there for a "go" line on its serial console: see src/box/guest/init). Every later cold start
// restores that state instead of booting, which under TCG is 1.3 s instead of 2.5 s. The file is
// valid only for the domain definition it was taken with (`key`, a digest of the domain XML
// without its uuid, kept beside it with the uuid): destroy keeps it with the image cache, and the
// project's next VM, defined again under that uuid, restores it too.

#include "common/fd.hpp"
#include "providers/libvirt/handles.hpp"

#include <filesystem>
#include <libvirt/libvirt.h>
#include <optional>
#include <string>
#include <thread>

namespace lcloud::providers::libvirt {

// The guest's line when it waits at the checkpoint, and when it has gone on from it.
inline constexpr const char* checkpoint_marker = "LCLOUD-CHECKPOINT";
inline constexpr const char* checkpoint_passed_marker = "going on from the boot checkpoint";

// /var/lib/lcloud/checkpoints/DOMAIN.save
std::filesystem::path checkpoint_file(const std::string& domain_name);

// Saves the running domain (which stops it) into its checkpoint file; then starts it again from
// there. Throws LibvirtError naming the step.
void take_checkpoint(virConnectPtr connection, virDomainPtr domain, const std::string& domain_name);

// Starts the domain from its checkpoint file; false (with the reason in `why`) when libvirt
// refuses it, e.g. a file that no longer matches this QEMU. The definition saved in the file is
// used without its disks' backing chains, which libvirt then probes afresh: a data disk that has
// become an overlay of the image cache since, or is no longer one, is opened as it is now.
bool restore_checkpoint(virConnectPtr connection, const std::string& domain_name, std::string& why);

// `xml` without its <backingStore> elements.
std::string without_backing_chains(std::string xml);

// Removes the checkpoint file; true when there was one.
bool remove_checkpoint(const std::string& domain_name);

// What a checkpoint was taken with: its definition's key and the domain's uuid.
struct CheckpointFacts {
    std::string key;
    std::string uuid;
};
// Those of the domain's checkpoint file, when it has both.
std::optional<CheckpointFacts> checkpoint_facts(const std::string& domain_name);
void write_checkpoint_facts(const std::string& domain_name, const CheckpointFacts& facts);

// Writes to the guest's serial console, held open until destroyed (QEMU drops what a client
// sent when it hangs up at once): through the socket QEMU listens on, or, for a console that is
// a pty (a domain defined by an older lcloud), through libvirt, as QEMU reads a pty only while
// someone holds its other end.
class ConsoleWriter {
  public:
    ConsoleWriter(virConnectPtr connection, virDomainPtr domain, const std::string& domain_name,
                  const std::filesystem::path& socket);
    ConsoleWriter(const ConsoleWriter&) = delete;
    ConsoleWriter& operator=(const ConsoleWriter&) = delete;
    ~ConsoleWriter();
    void send(const std::string& text);

  private:
    Fd socket_;
    std::thread drain_;
    virStreamPtr stream_ = nullptr;
    std::string domain_name_;
};

// "go <seconds since the epoch> <TYPE:KEY>\n": the guest sets its clock from it, authorizes the
// environment's SSH key and goes on.
std::string checkpoint_go_line(const std::string& key_word);

} // namespace lcloud::providers::libvirt

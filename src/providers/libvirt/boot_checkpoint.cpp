#include "providers/libvirt/boot_checkpoint.hpp"

#include "providers/libvirt/errors.hpp"

#include <chrono>
#include <fmt/format.h>
#include <libvirt/virterror.h>

namespace lcloud::providers::libvirt {

namespace fs = std::filesystem;

fs::path checkpoint_file(const std::string& domain_name) {
    return fs::path("/var/lib/lcloud/checkpoints") / (domain_name + ".save");
}

void take_checkpoint(virConnectPtr connection, virDomainPtr domain,
                     const std::string& domain_name) {
    const auto file = checkpoint_file(domain_name);
    fs::create_directories(file.parent_path());
    // Written beside and renamed, so that a save cut short never passes for a checkpoint.
    const auto partial = fs::path(file.string() + ".partial");
    if (virDomainSaveFlags(domain, partial.c_str(), nullptr, VIR_DOMAIN_SAVE_RUNNING) != 0) {
        std::error_code ignored;
        fs::remove(partial, ignored);
        throw_libvirt(
            fmt::format("saving the boot checkpoint of {} to {}", domain_name, partial.string()));
    }
    fs::rename(partial, file);
    std::string why;
    if (!restore_checkpoint(connection, domain_name, why))
        throw LibvirtError(
            fmt::format("starting {} again from its boot checkpoint: {}", domain_name, why));
}

bool restore_checkpoint(virConnectPtr connection, const std::string& domain_name,
                        std::string& why) {
    const auto file = checkpoint_file(domain_name);
    if (virDomainRestoreFlags(connection, file.c_str(), nullptr, VIR_DOMAIN_SAVE_RUNNING) == 0)
        return true;
    const virErrorPtr error = virGetLastError();
    why = error && error->message ? error->message : "unknown libvirt error";
    return false;
}

bool remove_checkpoint(const std::string& domain_name) {
    std::error_code ignored;
    fs::remove(fs::path(checkpoint_file(domain_name).string() + ".partial"), ignored);
    return fs::remove(checkpoint_file(domain_name), ignored);
}

ConsoleWriter::ConsoleWriter(virConnectPtr connection, virDomainPtr domain,
                             const std::string& domain_name)
    : stream_(virStreamNew(connection, 0)), domain_name_(domain_name) {
    if (!stream_) throw_libvirt(fmt::format("opening the serial console of {}", domain_name));
    if (virDomainOpenConsole(domain, nullptr, stream_, VIR_DOMAIN_CONSOLE_FORCE) != 0) {
        virStreamFree(stream_);
        stream_ = nullptr;
        throw_libvirt(fmt::format("opening the serial console of {}", domain_name));
    }
}

ConsoleWriter::~ConsoleWriter() {
    if (!stream_) return;
    virStreamAbort(stream_);
    virStreamFree(stream_);
}

void ConsoleWriter::send(const std::string& text) {
    for (size_t done = 0; done < text.size();) {
        const int sent = virStreamSend(stream_, text.data() + done, text.size() - done);
        if (sent < 0)
            throw_libvirt(fmt::format("writing to the serial console of {}", domain_name_));
        done += static_cast<size_t>(sent);
    }
}

std::string checkpoint_go_line() {
    const auto now = std::chrono::system_clock::now().time_since_epoch();
    return fmt::format("go {}\n", std::chrono::duration_cast<std::chrono::seconds>(now).count());
}

} // namespace lcloud::providers::libvirt

#include "providers/libvirt/boot_checkpoint.hpp"

#include "providers/libvirt/errors.hpp"
#include "runtime/container/console.hpp"
#include "state/atomic_file.hpp"

#include <cerrno>
#include <chrono>
#include <cstring>
#include <fmt/format.h>
#include <libvirt/virterror.h>
#include <nlohmann/json.hpp>
#include <sys/socket.h>

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

std::string without_backing_chains(std::string xml) {
    // The last one begins no other inside it: removed one by one from the end.
    for (size_t at; (at = xml.rfind("<backingStore")) != std::string::npos;) {
        const auto tag_end = xml.find('>', at);
        if (tag_end == std::string::npos) break;
        if (xml[tag_end - 1] == '/') {
            xml.erase(at, tag_end + 1 - at);
            continue;
        }
        const std::string close = "</backingStore>";
        const auto end = xml.find(close, tag_end);
        if (end == std::string::npos) break;
        xml.erase(at, end + close.size() - at);
    }
    return xml;
}

bool restore_checkpoint(virConnectPtr connection, const std::string& domain_name,
                        std::string& why) {
    const auto file = checkpoint_file(domain_name);
    OwnedString saved(
        virDomainSaveImageGetXMLDesc(connection, file.c_str(), VIR_DOMAIN_SAVE_IMAGE_XML_SECURE));
    const auto definition = saved ? without_backing_chains(saved.get()) : std::string();
    if (virDomainRestoreFlags(connection, file.c_str(),
                              definition.empty() ? nullptr : definition.c_str(),
                              VIR_DOMAIN_SAVE_RUNNING) == 0)
        return true;
    why = last_libvirt_error();
    return false;
}

namespace {

fs::path facts_file(const std::string& domain_name) {
    return checkpoint_file(domain_name).string() + ".json";
}

} // namespace

bool remove_checkpoint(const std::string& domain_name) {
    std::error_code ignored;
    fs::remove(fs::path(checkpoint_file(domain_name).string() + ".partial"), ignored);
    fs::remove(facts_file(domain_name), ignored);
    return fs::remove(checkpoint_file(domain_name), ignored);
}

std::optional<CheckpointFacts> checkpoint_facts(const std::string& domain_name) {
    std::error_code error;
    if (!fs::exists(checkpoint_file(domain_name), error)) return std::nullopt;
    const auto text = state::read_file(facts_file(domain_name));
    if (!text) return std::nullopt;
    const auto facts = nlohmann::json::parse(*text, nullptr, false);
    if (!facts.is_object() || facts.value("key", "").empty() || facts.value("uuid", "").empty())
        return std::nullopt;
    return CheckpointFacts{facts.value("key", ""), facts.value("uuid", "")};
}

void write_checkpoint_facts(const std::string& domain_name, const CheckpointFacts& facts) {
    state::write_file_atomic(facts_file(domain_name),
                             nlohmann::json{{"key", facts.key}, {"uuid", facts.uuid}}.dump(2));
}

ConsoleWriter::ConsoleWriter(virConnectPtr connection, virDomainPtr domain,
                             const std::string& domain_name, const fs::path& socket)
    : domain_name_(domain_name) {
    std::error_code error;
    if (fs::is_socket(socket, error)) {
        socket_ = runtime::connect_console_socket(socket);
        // QEMU sends its client all that the guest writes (the log has it too). Unread, it
        // would stall the guest's console, and the guest with it: one byte is one message, and
        // a few hundred fill the socket.
        drain_ = std::thread([fd = socket_.get()] {
            char unread[4096];
            while (::recv(fd, unread, sizeof unread, 0) > 0) {
            }
        });
        return;
    }
    stream_ = virStreamNew(connection, 0);
    if (!stream_) throw_libvirt(fmt::format("opening the serial console of {}", domain_name));
    if (virDomainOpenConsole(domain, nullptr, stream_, VIR_DOMAIN_CONSOLE_FORCE) != 0) {
        virStreamFree(stream_);
        stream_ = nullptr;
        throw_libvirt(fmt::format("opening the serial console of {}", domain_name));
    }
}

ConsoleWriter::~ConsoleWriter() {
    if (socket_) {
        ::shutdown(socket_.get(), SHUT_RDWR);
        drain_.join();
    }
    if (!stream_) return;
    virStreamAbort(stream_);
    virStreamFree(stream_);
}

void ConsoleWriter::send(const std::string& text) {
    if (socket_) {
        for (size_t done = 0; done < text.size();) {
            const auto sent =
                ::send(socket_.get(), text.data() + done, text.size() - done, MSG_NOSIGNAL);
            if (sent < 0 && errno == EINTR) continue;
            if (sent < 0)
                throw LibvirtError(fmt::format("writing to the serial console of {}: {}",
                                               domain_name_, std::strerror(errno)));
            done += static_cast<size_t>(sent);
        }
        return;
    }
    for (size_t done = 0; done < text.size();) {
        const int sent = virStreamSend(stream_, text.data() + done, text.size() - done);
        if (sent < 0)
            throw_libvirt(fmt::format("writing to the serial console of {}", domain_name_));
        done += static_cast<size_t>(sent);
    }
}

std::string checkpoint_go_line(const std::string& key_word) {
    const auto now = std::chrono::system_clock::now().time_since_epoch();
    return fmt::format("go {} {}\n", std::chrono::duration_cast<std::chrono::seconds>(now).count(),
                       key_word);
}

} // namespace lcloud::providers::libvirt

#include "ssh/errors.hpp"

#include <fmt/format.h>

namespace lcloud::ssh {

namespace {

std::string ssh_message(const std::string& where, const std::string& operation,
                        const std::string& detail) {
    std::string message = fmt::format("ssh {}: {}", where, operation);
    if (!detail.empty()) message += ": " + detail;
    return message;
}

} // namespace

SshError::SshError(const std::string& where, const std::string& operation,
                   const std::string& detail)
    : Error(ssh_message(where, operation, detail)), where_(where), operation_(operation) {}

HostKeyMismatch::HostKeyMismatch(const std::string& where, const std::filesystem::path& known_hosts,
                                 const std::string& entry_name,
                                 const std::string& expected_fingerprint,
                                 const std::string& actual_fingerprint)
    : SshError(where, "verify host key",
               fmt::format("the guest's host key changed (pinned {} in {}, the server now "
                           "presents {}); if the machine was recreated, run `lcloud destroy` or "
                           "remove the line for {} from {}, otherwise something may be "
                           "intercepting the connection",
                           expected_fingerprint, known_hosts.string(), actual_fingerprint,
                           entry_name, known_hosts.string())),
      known_hosts_(known_hosts) {}

} // namespace lcloud::ssh

#pragma once

#include "common/error.hpp"

#include <filesystem>
#include <string>

namespace lcloud::ssh {

// An SSH operation that failed: "ssh <where>: <operation>: <detail>", where `where` is the
// user@host:port (or the key file) and `detail` libssh's own explanation when it has one.
class SshError : public Error {
  public:
    SshError(const std::string& where, const std::string& operation, const std::string& detail);
    const std::string& where() const { return where_; }
    const std::string& operation() const { return operation_; }

  private:
    std::string where_;
    std::string operation_;
};

// The server presented another host key than the one pinned for it: either the machine was
// recreated (the usual case) or something is in the middle. The message says which file holds
// the pin and how to clear it.
class HostKeyMismatch : public SshError {
  public:
    HostKeyMismatch(const std::string& where, const std::filesystem::path& known_hosts,
                    const std::string& entry_name, const std::string& expected_fingerprint,
                    const std::string& actual_fingerprint);
    const std::filesystem::path& known_hosts() const { return known_hosts_; }

  private:
    std::filesystem::path known_hosts_;
};

} // namespace lcloud::ssh

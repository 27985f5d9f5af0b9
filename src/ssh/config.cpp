#include "ssh/config.hpp"

#include "common/error.hpp"

#include <fmt/format.h>

namespace lcloud::ssh {

namespace {

// ssh_config values: absolute, double-quoted when they hold blanks, and with % doubled since
// ssh expands %-tokens in these keywords. A double quote cannot be written at all.
std::string path_value(const std::filesystem::path& path, const char* keyword) {
    const std::string absolute = std::filesystem::absolute(path).lexically_normal().string();
    if (absolute.find('"') != std::string::npos)
        throw Error(fmt::format("cannot write {} '{}' to an SSH config: it contains a double quote",
                                keyword, absolute));
    std::string value;
    for (const char c : absolute)
        value += c == '%' ? std::string("%%") : std::string(1, c);
    const bool blank = value.find_first_of(" \t") != std::string::npos;
    return blank ? "\"" + value + "\"" : value;
}

} // namespace

std::string ssh_config_block(const std::string& alias, const Target& target) {
    return fmt::format("Host {}\n"
                       "    HostName {}\n"
                       "    Port {}\n"
                       "    User {}\n"
                       "    IdentityFile {}\n"
                       "    IdentitiesOnly yes\n"
                       "    UserKnownHostsFile {}\n"
                       "    GlobalKnownHostsFile /dev/null\n"
                       "    StrictHostKeyChecking yes\n"
                       "    LogLevel ERROR\n",
                       alias, target.host, target.port, target.user,
                       path_value(target.identity, "IdentityFile"),
                       path_value(target.known_hosts, "UserKnownHostsFile"));
}

} // namespace lcloud::ssh

#pragma once

#include "providers/machine.hpp"
#include "ssh/session.hpp"

namespace lcloud::providers {

// The machine's SSH endpoint as libssh's connection target.
inline ssh::Target ssh_target(const SshEndpoint& endpoint) {
    ssh::Target target;
    target.host = endpoint.host;
    target.port = endpoint.port;
    target.user = endpoint.user;
    target.identity = endpoint.identity;
    target.known_hosts = endpoint.known_hosts;
    return target;
}

} // namespace lcloud::providers

#pragma once

#include "ssh/keys.hpp"
#include "ssh/known_hosts.hpp"
#include "ssh/session.hpp"
#include "ssh_server.hpp"
#include "support/temp_dir.hpp"

#include <string>

namespace lcloud::test {

// A client key, a server that accepts it, and a Target with the server's key pinned.
struct SshSetup {
    TempDir client_dir;
    std::string public_key = ssh::ensure_key_pair(client_dir.path() / "id_ed25519", "test");
    SshServer server{public_key};
    ssh::Target target = make_target();

    ssh::Target make_target() const {
        ssh::Target result;
        result.host = server.host();
        result.port = server.port();
        result.identity = client_dir.path() / "id_ed25519";
        result.known_hosts = client_dir.path() / "known_hosts";
        ssh::pin_host_key(result.known_hosts, result.host, result.port, server.host_public_key());
        return result;
    }
};

} // namespace lcloud::test

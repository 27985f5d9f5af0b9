#pragma once

#include "ssh/handles.hpp"

#include <filesystem>
#include <string>

namespace lcloud::ssh {

// The client key lcloud logs in with. Creates an ed25519 key pair at `private_key` (mode 0600)
// and `private_key`.pub (OpenSSH one-line format) when there is none; an existing key is reused.
// Returns the public key line "ssh-ed25519 AAAA... comment". A key file libssh cannot read is an
// SshError naming the file.
std::string ensure_key_pair(const std::filesystem::path& private_key, const std::string& comment);

// The private key at `path` (unencrypted); SshError naming the file when it cannot be read.
KeyHandle load_private_key(const std::filesystem::path& path);

// Parses "type base64 [comment]"; SshError naming `where` when it is not a public key.
KeyHandle parse_public_key_line(const std::string& line, const std::string& where);

// "type base64" of a public (or private) key, without a comment.
std::string public_key_text(ssh_key key, const std::string& where);

// "SHA256:..." as OpenSSH prints it.
std::string fingerprint(ssh_key key);

} // namespace lcloud::ssh

#include "ssh/keys.hpp"

#include "common/error.hpp"
#include "ssh/errors.hpp"
#include "state/atomic_file.hpp"

#include <cerrno>
#include <fmt/format.h>
#include <sstream>
#include <unistd.h>

namespace lcloud::ssh {

namespace fs = std::filesystem;

namespace {

KeyHandle generate_key(const fs::path& path) {
    ssh_key key = nullptr;
    if (ssh_pki_generate(SSH_KEYTYPE_ED25519, 0, &key) != SSH_OK)
        throw SshError(path.string(), "generate ed25519 key", "libssh failed");
    return KeyHandle(key);
}

std::string private_key_text(ssh_key key, const fs::path& path) {
    char* text = nullptr;
    if (ssh_pki_export_privkey_base64(key, nullptr, nullptr, nullptr, &text) != SSH_OK)
        throw SshError(path.string(), "export private key", "libssh failed");
    const LibsshString owner(text);
    std::string result(text);
    if (!result.ends_with('\n')) result += '\n';
    return result;
}

// Creates `path` with `content` unless it exists, never replacing a key another process made
// meanwhile: the content goes to a temporary file that is then link()ed (which fails on an
// existing name, where rename would overwrite).
void create_exclusive(const fs::path& path, const std::string& content) {
    const fs::path temp =
        path.parent_path() / fmt::format(".{}.new.{}", path.filename().string(), ::getpid());
    state::write_file_atomic(temp, content, 0600);
    const int linked = ::link(temp.c_str(), path.c_str());
    const int link_errno = errno;
    ::unlink(temp.c_str());
    if (linked != 0 && link_errno != EEXIST) throw SystemError("create", path.string(), link_errno);
}

std::string key_part(const std::string& line) {
    std::istringstream fields(line);
    std::string type, base64;
    fields >> type >> base64;
    return type + " " + base64;
}

} // namespace

KeyHandle load_private_key(const fs::path& path) {
    ssh_key key = nullptr;
    if (ssh_pki_import_privkey_file(path.c_str(), nullptr, nullptr, nullptr, &key) != SSH_OK)
        throw SshError(path.string(), "read private key",
                       "not an unencrypted private key libssh can read (remove the file to have "
                       "a new key made)");
    return KeyHandle(key);
}

KeyHandle parse_public_key_line(const std::string& line, const std::string& where) {
    std::istringstream fields(line);
    std::string type, base64;
    fields >> type >> base64;
    const ssh_keytypes_e key_type = ssh_key_type_from_name(type.c_str());
    ssh_key key = nullptr;
    if (key_type == SSH_KEYTYPE_UNKNOWN ||
        ssh_pki_import_pubkey_base64(base64.c_str(), key_type, &key) != SSH_OK)
        throw SshError(where, "read public key", fmt::format("not a public key line: '{}'", line));
    return KeyHandle(key);
}

std::string public_key_text(ssh_key key, const std::string& where) {
    char* base64 = nullptr;
    if (ssh_pki_export_pubkey_base64(key, &base64) != SSH_OK)
        throw SshError(where, "export public key", "libssh failed");
    const LibsshString owner(base64);
    const char* type = ssh_key_type_to_char(ssh_key_type(key));
    return fmt::format("{} {}", type ? type : "unknown", base64);
}

std::string fingerprint(ssh_key key) {
    unsigned char* hash = nullptr;
    size_t length = 0;
    if (ssh_get_publickey_hash(key, SSH_PUBLICKEY_HASH_SHA256, &hash, &length) != SSH_OK)
        return "(unknown fingerprint)";
    const HashHandle hash_owner(hash);
    const LibsshString text(ssh_get_fingerprint_hash(SSH_PUBLICKEY_HASH_SHA256, hash, length));
    return text ? std::string(text.get()) : "(unknown fingerprint)";
}

std::string ensure_key_pair(const fs::path& private_key, const std::string& comment) {
    std::error_code error;
    if (!fs::exists(private_key, error)) {
        const KeyHandle key = generate_key(private_key);
        create_exclusive(private_key, private_key_text(key.get(), private_key));
    }
    // Read back what is on disk: another process may have won the race to create it.
    const KeyHandle key = load_private_key(private_key);
    const std::string key_text = public_key_text(key.get(), private_key.string());
    const std::string line = comment.empty() ? key_text : key_text + " " + comment;
    const fs::path public_key = fs::path(private_key.string() + ".pub");
    const std::optional<std::string> existing = state::read_file(public_key);
    if (!existing || key_part(*existing) != key_text)
        state::write_file_atomic(public_key, line + "\n", 0644);
    return line;
}

} // namespace lcloud::ssh

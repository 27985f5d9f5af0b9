#pragma once

#include <libssh/libssh.h>
#include <libssh/sftp.h>
#include <memory>

namespace lcloud::ssh {

// One owner per libssh handle, so that every error path frees what it created.
struct SessionDeleter {
    void operator()(ssh_session session) const {
        // Disconnecting a session that never connected is harmless.
        ssh_disconnect(session);
        ssh_free(session);
    }
};
struct ChannelDeleter {
    void operator()(ssh_channel channel) const { ssh_channel_free(channel); }
};
struct KeyDeleter {
    void operator()(ssh_key key) const { ssh_key_free(key); }
};
struct SftpDeleter {
    void operator()(sftp_session sftp) const { sftp_free(sftp); }
};
struct SftpFileDeleter {
    void operator()(sftp_file file) const { sftp_close(file); }
};
struct CharDeleter {
    void operator()(char* text) const { ssh_string_free_char(text); }
};
struct HashDeleter {
    void operator()(unsigned char* hash) const { ssh_clean_pubkey_hash(&hash); }
};

using SessionHandle = std::unique_ptr<ssh_session_struct, SessionDeleter>;
using ChannelHandle = std::unique_ptr<ssh_channel_struct, ChannelDeleter>;
using KeyHandle = std::unique_ptr<ssh_key_struct, KeyDeleter>;
using SftpHandle = std::unique_ptr<sftp_session_struct, SftpDeleter>;
using SftpFileHandle = std::unique_ptr<sftp_file_struct, SftpFileDeleter>;
using LibsshString = std::unique_ptr<char, CharDeleter>;
using HashHandle = std::unique_ptr<unsigned char, HashDeleter>;

} // namespace lcloud::ssh

#include "common/fd.hpp"
#include "ssh/errors.hpp"
#include "ssh/session.hpp"

#include <chrono>
#include <fcntl.h>
#include <fmt/format.h>

namespace lcloud::ssh {

namespace {

std::string shell_quote(const std::string& text) {
    std::string quoted = "'";
    for (const char c : text)
        quoted += c == '\'' ? std::string("'\\''") : std::string(1, c);
    return quoted + "'";
}

std::string sftp_error(ssh_session session, sftp_session sftp) {
    return fmt::format("{} (SFTP status {})", ssh_get_error(session), sftp_get_error(sftp));
}

// libssh 0.10's sftp_init() spins forever when the server ends the subsystem at once, as dropbear
// without sftp-server does (it accepts the request, then the exec fails). So ask on a channel of
// our own first, where that end is seen: send SSH_FXP_INIT, expect SSH_FXP_VERSION.
bool server_speaks_sftp(ssh_session session, std::chrono::milliseconds timeout) {
    const ChannelHandle channel(ssh_channel_new(session));
    if (!channel || ssh_channel_open_session(channel.get()) != SSH_OK ||
        ssh_channel_request_subsystem(channel.get(), "sftp") != SSH_OK)
        return false;
    const unsigned char init[] = {0, 0, 0, 5, SSH_FXP_INIT, 0, 0, 0, 3};
    if (ssh_channel_write(channel.get(), init, sizeof init) != static_cast<int>(sizeof init))
        return false;
    unsigned char reply[5];
    for (size_t got = 0; got < sizeof reply;) {
        const int count = ssh_channel_read_timeout(channel.get(), reply + got, sizeof reply - got,
                                                   0, static_cast<int>(timeout.count()));
        if (count <= 0) {
            // The server ended the subsystem: take in its end of file (and close) before the
            // caller's next channel, so that they do not arrive in the middle of its requests.
            const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(1);
            char sink[256];
            while (!ssh_channel_is_eof(channel.get()) && ssh_is_connected(session) &&
                   std::chrono::steady_clock::now() < deadline &&
                   ssh_channel_read_timeout(channel.get(), sink, sizeof sink, 0, 100) >= 0) {
            }
            ssh_channel_close(channel.get());
            return false;
        }
        got += static_cast<size_t>(count);
    }
    return reply[4] == SSH_FXP_VERSION;
}

} // namespace

void Session::upload(const std::string& remote_path, std::string_view bytes, mode_t mode) {
    if (!upload_sftp(remote_path, bytes, mode)) upload_exec(remote_path, bytes, mode);
}

// False when the server offers no SFTP (dropbear without sftp-server, for one): the caller then
// uses a plain command. Failures once SFTP is up are errors.
bool Session::upload_sftp(const std::string& remote_path, std::string_view bytes, mode_t mode) {
    if (!has_sftp_) has_sftp_ = server_speaks_sftp(session_.get(), target_.timeout);
    if (!*has_sftp_) return false;
    const SftpHandle sftp(sftp_new(session_.get()));
    if (!sftp || sftp_init(sftp.get()) != SSH_OK) return false;
    const std::string temp = remote_path + ".tmp";
    const std::string operation = "upload " + remote_path;
    const auto fail = [&](const std::string& step) {
        const std::string detail = sftp_error(session_.get(), sftp.get());
        sftp_unlink(sftp.get(), temp.c_str());
        throw SshError(where_, operation, step + ": " + detail);
    };
    {
        SftpFileHandle file(
            sftp_open(sftp.get(), temp.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600));
        if (!file) fail("open " + temp);
        while (!bytes.empty()) {
            const ssize_t written = sftp_write(file.get(), bytes.data(), bytes.size());
            if (written <= 0) fail("write " + temp);
            bytes.remove_prefix(static_cast<size_t>(written));
        }
        // The server reports a failed write at the latest when the file is closed.
        if (sftp_close(file.release()) != SSH_OK) fail("close " + temp);
    }
    if (sftp_chmod(sftp.get(), temp.c_str(), mode) != SSH_OK) fail("chmod " + temp);
    // SFTP version 3 (OpenSSH) refuses to rename onto an existing file: remove it first.
    if (sftp_rename(sftp.get(), temp.c_str(), remote_path.c_str()) != SSH_OK) {
        sftp_unlink(sftp.get(), remote_path.c_str());
        if (sftp_rename(sftp.get(), temp.c_str(), remote_path.c_str()) != SSH_OK)
            fail("rename " + temp + " to " + remote_path);
    }
    return true;
}

void Session::upload_exec(const std::string& remote_path, std::string_view bytes, mode_t mode) {
    const std::string temp = shell_quote(remote_path + ".tmp");
    // umask first: the file must not be readable by others before the chmod.
    const std::string command =
        fmt::format("umask 077 && cat > {0} && chmod {1:o} {0} && mv -f {0} {2} || "
                    "{{ rm -f {0}; exit 1; }}",
                    temp, mode & 07777, shell_quote(remote_path));
    const Result result = capture(command, std::string(bytes));
    if (result.exit_code != 0)
        throw SshError(where_, "upload " + remote_path,
                       result.err.empty()
                           ? fmt::format("exit status {}", result.exit_code)
                           : result.err.substr(0, result.err.find_last_not_of('\n') + 1));
}

void Session::upload_file(const std::string& remote_path, const std::filesystem::path& local,
                          mode_t mode) {
    const Fd file(::open(local.c_str(), O_RDONLY | O_CLOEXEC));
    if (!file) throw_errno("open", local.string());
    const std::string temp = shell_quote(remote_path + ".tmp");
    const std::string command =
        fmt::format("umask 077 && cat > {0} && chmod {1:o} {0} && mv -f {0} {2} || "
                    "{{ rm -f {0}; exit 1; }}",
                    temp, mode & 07777, shell_quote(remote_path));
    const Result result = feed(command, file.get());
    const int code = result.exit_code;
    const std::string& err = result.err;
    if (code != 0)
        throw SshError(where_, fmt::format("upload {} to {}", local.string(), remote_path),
                       err.empty() ? fmt::format("exit status {}", code)
                                   : err.substr(0, err.find_last_not_of('\n') + 1));
}

} // namespace lcloud::ssh

#pragma once

#include "ssh/handles.hpp"

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <sys/types.h>

namespace lcloud::ssh {

struct PumpEnds;

// Where to log in and what to trust: only `known_hosts` (never ~/.ssh or /etc/ssh) and only
// the key `identity`.
struct Target {
    std::string host;
    uint16_t port = 22;
    std::string user = "root";
    std::filesystem::path identity;
    std::filesystem::path known_hosts;
    std::chrono::milliseconds timeout{10000}; // connecting and each blocking protocol step
};

// A logged-in SSH connection. One command at a time.
class Session {
  public:
    // Connects, checks the server's key against the one pinned in target.known_hosts (unknown:
    // SshError; different: HostKeyMismatch) and logs in with target.identity.
    static Session connect(const Target& target);

    struct Result {
        int exit_code;
        std::string out;
        std::string err;
    };
    // Runs `command`, sends `input` then EOF, collects its output.
    Result capture(const std::string& command, const std::string& input = {});
    // The same with stdin streamed from `in_fd` until its end (a big file, say).
    Result feed(const std::string& command, int in_fd);
    // Runs `command` with its stdin from in_fd (-1: none), stdout to out_fd, stderr to err_fd
    // (-1: discarded). Returns the exit status, 128 + n when a signal ended it.
    int run(const std::string& command, int in_fd, int out_fd, int err_fd);
    // Runs `command` (the login shell without one) on a remote terminal sized and named like
    // terminal_fd, which is in raw mode meanwhile. Returns the exit status.
    int interactive(const std::optional<std::string>& command, int terminal_fd);
    // Writes `bytes` to remote_path + ".tmp", then renames it to remote_path: by SFTP when the
    // server has it, else through `cat`.
    void upload(const std::string& remote_path, std::string_view bytes, mode_t mode);
    // The same from a local file, streamed (never held in memory whole), through `cat`.
    void upload_file(const std::string& remote_path, const std::filesystem::path& local,
                     mode_t mode);

    // A direct-tcpip channel to host:port as the server resolves it (its own loopback, say).
    ChannelHandle open_forward(const std::string& host, uint16_t port);
    // A channel running `command`, for a caller that moves its bytes itself.
    ChannelHandle open_exec(const std::string& command);
    // For the one thread that owns this session (libssh sessions are not thread-safe).
    ssh_session raw() const { return session_.get(); }

    const Target& target() const { return target_; }
    // "user@host:port", as errors name the connection.
    const std::string& where() const { return where_; }

  private:
    Session(Target target, SessionHandle session);
    ChannelHandle open_channel();
    // Runs `command` on a new channel, pumping its ends; its exit code.
    int exec(const std::string& command, PumpEnds& ends);
    bool upload_sftp(const std::string& remote_path, std::string_view bytes, mode_t mode);
    void upload_exec(const std::string& remote_path, std::string_view bytes, mode_t mode);

    Target target_;
    std::string where_;
    SessionHandle session_;
    std::optional<bool> has_sftp_; // asked at the first upload
};

} // namespace lcloud::ssh

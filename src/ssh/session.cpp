#include "ssh/session.hpp"

#include "ssh/channel_pump.hpp"
#include "ssh/errors.hpp"
#include "ssh/keys.hpp"
#include "ssh/known_hosts.hpp"

#include <cstdlib>
#include <fmt/format.h>

namespace lcloud::ssh {

namespace {

template <typename Value>
void set_option(ssh_session session, ssh_options_e option, const Value* value,
                const std::string& where, const char* name) {
    if (ssh_options_set(session, option, value) != SSH_OK)
        throw SshError(where, fmt::format("set option {}", name), ssh_get_error(session));
}

void configure(ssh_session session, const Target& target, const std::string& where) {
    set_option(session, SSH_OPTIONS_HOST, target.host.c_str(), where, "host");
    const unsigned int port = target.port;
    set_option(session, SSH_OPTIONS_PORT, &port, where, "port");
    set_option(session, SSH_OPTIONS_USER, target.user.c_str(), where, "user");
    const long seconds = static_cast<long>(target.timeout.count() / 1000);
    const long microseconds = static_cast<long>(target.timeout.count() % 1000) * 1000;
    set_option(session, SSH_OPTIONS_TIMEOUT, &seconds, where, "timeout");
    set_option(session, SSH_OPTIONS_TIMEOUT_USEC, &microseconds, where, "timeout");
    // Nothing of the user's own SSH setup may change whom we trust or how we log in.
    const bool process_config = false;
    set_option(session, SSH_OPTIONS_PROCESS_CONFIG, &process_config, where, "process config");
    set_option(session, SSH_OPTIONS_KNOWNHOSTS, target.known_hosts.c_str(), where, "known hosts");
    set_option(session, SSH_OPTIONS_GLOBAL_KNOWNHOSTS, "/dev/null", where, "global known hosts");
    // Without it, Nagle holds back the second of two back-to-back packets (KEXDH_INIT after
    // KEXINIT, the service request after NEWKEYS) until the guest's delayed ACK: 2 x 40 ms.
    const int nodelay = 1;
    set_option(session, SSH_OPTIONS_NODELAY, &nodelay, where, "nodelay");
    // LCLOUD_SSH_DEBUG=1..4: libssh traces the protocol on stderr (process-wide), for debugging.
    if (const char* level = std::getenv("LCLOUD_SSH_DEBUG")) ssh_set_log_level(std::atoi(level));
}

std::string server_fingerprint(ssh_session session) {
    ssh_key key = nullptr;
    if (ssh_get_server_publickey(session, &key) != SSH_OK) return "(unknown fingerprint)";
    const KeyHandle owner(key);
    return fingerprint(key);
}

void verify_host_key(ssh_session session, const Target& target, const std::string& where) {
    const std::string name = known_hosts_name(target.host, target.port);
    switch (ssh_session_is_known_server(session)) {
    case SSH_KNOWN_HOSTS_OK:
        return;
    case SSH_KNOWN_HOSTS_CHANGED:
    case SSH_KNOWN_HOSTS_OTHER: {
        const std::optional<std::string> pinned =
            pinned_host_key(target.known_hosts, target.host, target.port);
        const std::string expected =
            pinned ? fingerprint(parse_public_key_line(*pinned, name).get()) : "another key";
        throw HostKeyMismatch(where, target.known_hosts, name, expected,
                              server_fingerprint(session));
    }
    case SSH_KNOWN_HOSTS_UNKNOWN:
    case SSH_KNOWN_HOSTS_NOT_FOUND:
        throw SshError(where, "verify host key",
                       fmt::format("the server's key {} is not pinned for {} in {}",
                                   server_fingerprint(session), name, target.known_hosts.string()));
    case SSH_KNOWN_HOSTS_ERROR:
        break;
    }
    throw SshError(where, "verify host key against " + target.known_hosts.string(),
                   ssh_get_error(session));
}

void authenticate(ssh_session session, const Target& target, const std::string& where) {
    const KeyHandle key = load_private_key(target.identity);
    const int result = ssh_userauth_publickey(session, nullptr, key.get());
    if (result == SSH_AUTH_SUCCESS) return;
    const std::string operation =
        fmt::format("log in as {} with the key {}", target.user, target.identity.string());
    if (result == SSH_AUTH_ERROR) throw SshError(where, operation, ssh_get_error(session));
    throw SshError(where, operation,
                   result == SSH_AUTH_PARTIAL ? "the server wants a further authentication"
                                              : "the server did not accept the key");
}

} // namespace

Session::Session(Target target, SessionHandle session)
    : target_(std::move(target)),
      where_(fmt::format("{}@{}:{}", target_.user, target_.host, target_.port)),
      session_(std::move(session)) {}

Session Session::connect(const Target& target) {
    const std::string where = fmt::format("{}@{}:{}", target.user, target.host, target.port);
    SessionHandle session(ssh_new());
    if (!session) throw SshError(where, "create session", "out of memory");
    configure(session.get(), target, where);
    if (ssh_connect(session.get()) != SSH_OK)
        throw SshError(where, "connect", ssh_get_error(session.get()));
    verify_host_key(session.get(), target, where);
    authenticate(session.get(), target, where);
    return Session(target, std::move(session));
}

ChannelHandle Session::open_channel() {
    ChannelHandle channel(ssh_channel_new(session_.get()));
    if (!channel) throw SshError(where_, "create channel", ssh_get_error(session_.get()));
    if (ssh_channel_open_session(channel.get()) != SSH_OK)
        throw SshError(where_, "open channel", ssh_get_error(session_.get()));
    return channel;
}

ChannelHandle Session::open_forward(const std::string& host, uint16_t port) {
    ChannelHandle channel(ssh_channel_new(session_.get()));
    if (!channel) throw SshError(where_, "create channel", ssh_get_error(session_.get()));
    // The originator address is informational; dropbear only logs it.
    if (ssh_channel_open_forward(channel.get(), host.c_str(), port, "127.0.0.1", 0) != SSH_OK)
        throw SshError(where_, fmt::format("open a channel to {}:{} in the server", host, port),
                       ssh_get_error(session_.get()));
    return channel;
}

ChannelHandle Session::open_exec(const std::string& command) {
    ChannelHandle channel = open_channel();
    if (ssh_channel_request_exec(channel.get(), command.c_str()) != SSH_OK)
        throw SshError(where_, "run '" + command + "'", ssh_get_error(session_.get()));
    return channel;
}

int Session::exec(const std::string& command, PumpEnds& ends) {
    const ChannelHandle channel = open_channel();
    const ChannelExit exit(channel.get());
    if (ssh_channel_request_exec(channel.get(), command.c_str()) != SSH_OK)
        throw SshError(where_, "run '" + command + "'", ssh_get_error(session_.get()));
    return pump_channel(session_.get(), channel.get(), exit, where_, ends);
}

Session::Result Session::capture(const std::string& command, const std::string& input) {
    Result result{0, {}, {}};
    PumpEnds ends;
    ends.input = input;
    ends.on_out = [&](std::string_view data) { result.out.append(data); };
    ends.on_err = [&](std::string_view data) { result.err.append(data); };
    result.exit_code = exec(command, ends);
    return result;
}

Session::Result Session::feed(const std::string& command, int in_fd) {
    Result result{0, {}, {}};
    PumpEnds ends;
    ends.in_fd = in_fd;
    ends.on_out = [&](std::string_view data) { result.out.append(data); };
    ends.on_err = [&](std::string_view data) { result.err.append(data); };
    result.exit_code = exec(command, ends);
    return result;
}

int Session::run(const std::string& command, int in_fd, int out_fd, int err_fd) {
    PumpEnds ends;
    ends.in_fd = in_fd;
    ends.on_out = [out_fd](std::string_view data) { write_fd(out_fd, data); };
    ends.on_err = [err_fd](std::string_view data) { write_fd(err_fd, data); };
    return exec(command, ends);
}

} // namespace lcloud::ssh

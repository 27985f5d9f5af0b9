#include "ssh/config.hpp"
#include "ssh/errors.hpp"
#include "ssh/keys.hpp"
#include "ssh/known_hosts.hpp"
#include "state/atomic_file.hpp"
#include "support/temp_dir.hpp"

#include <doctest/doctest.h>

#include <filesystem>
#include <regex>
#include <string>
#include <sys/stat.h>

namespace fs = std::filesystem;
using lcloud::state::read_file;
using lcloud::state::write_file_atomic;
using lcloud::test::TempDir;
using namespace lcloud::ssh;

namespace {

mode_t mode_of(const fs::path& path) {
    struct stat info {};
    REQUIRE(::stat(path.c_str(), &info) == 0);
    return info.st_mode & 07777;
}

} // namespace

TEST_CASE("ssh: a key pair is made once, private mode 0600, public in OpenSSH's line format") {
    TempDir dir;
    const fs::path key = dir.path() / "keys" / "id_ed25519";
    fs::create_directories(key.parent_path());
    const std::string line = ensure_key_pair(key, "lcloud@test");
    CHECK(std::regex_match(line, std::regex("ssh-ed25519 AAAAC3NzaC1lZDI1NTE5[A-Za-z0-9+/=]+ "
                                            "lcloud@test")));
    CHECK(mode_of(key) == 0600);
    CHECK(read_file(key).value().starts_with("-----BEGIN OPENSSH PRIVATE KEY-----"));
    CHECK(read_file(fs::path(key.string() + ".pub")).value() == line + "\n");
    // Nothing but the two files: the temporary ones are gone.
    CHECK(std::distance(fs::directory_iterator(key.parent_path()), fs::directory_iterator()) == 2);

    // libssh reads it back, and the public half matches.
    const KeyHandle loaded = load_private_key(key);
    CHECK(public_key_text(loaded.get(), "test") + " lcloud@test" == line);

    const std::string private_before = read_file(key).value();
    CHECK(ensure_key_pair(key, "lcloud@test") == line);
    CHECK(read_file(key).value() == private_before);

    SUBCASE("a missing public half is rewritten from the private key") {
        fs::remove(key.string() + ".pub");
        CHECK(ensure_key_pair(key, "other") == line.substr(0, line.rfind(' ')) + " other");
        CHECK(read_file(key).value() == private_before);
    }
}

TEST_CASE("ssh: an unreadable key file is an SshError naming the file") {
    TempDir dir;
    const fs::path key = dir.path() / "id_ed25519";
    write_file_atomic(key, "-----BEGIN OPENSSH PRIVATE KEY-----\ngarbage\n", 0600);
    try {
        ensure_key_pair(key, "c");
        FAIL("no error");
    } catch (const SshError& error) {
        CHECK(std::string(error.what()).find(key.string()) != std::string::npos);
    }
    // Not replaced: the user may want to look at it.
    CHECK(read_file(key).value().find("garbage") != std::string::npos);
}

TEST_CASE("ssh: pinning writes OpenSSH known_hosts lines and replaces the host's own entry") {
    TempDir dir;
    const fs::path known_hosts = dir.path() / "known_hosts";
    const std::string first = ensure_key_pair(dir.path() / "a", "a-comment");
    const std::string second = ensure_key_pair(dir.path() / "b", "b");
    const auto key_of = [](const std::string& line) { return line.substr(0, line.rfind(' ')); };

    CHECK_FALSE(pinned_host_key(known_hosts, "10.0.0.5", 2222));
    pin_host_key(known_hosts, "10.0.0.5", 2222, first);
    pin_host_key(known_hosts, "10.0.0.6", 22, first);
    CHECK(mode_of(known_hosts) == 0600);
    CHECK(read_file(known_hosts).value() ==
          "[10.0.0.5]:2222 " + key_of(first) + "\n10.0.0.6 " + key_of(first) + "\n");

    pin_host_key(known_hosts, "10.0.0.5", 2222, second);
    CHECK(pinned_host_key(known_hosts, "10.0.0.5", 2222) == key_of(second));
    CHECK(pinned_host_key(known_hosts, "10.0.0.6", 22) == key_of(first));
    CHECK_FALSE(pinned_host_key(known_hosts, "10.0.0.5", 22));
    CHECK(read_file(known_hosts).value() ==
          "10.0.0.6 " + key_of(first) + "\n[10.0.0.5]:2222 " + key_of(second) + "\n");

    CHECK_THROWS_AS(pin_host_key(known_hosts, "h", 22, "ssh-ed25519 notbase64"), SshError);
}

TEST_CASE("ssh: ssh_config_block points OpenSSH at the same key and pinned host key") {
    Target target;
    target.host = "192.168.122.9";
    target.port = 2200;
    target.user = "admin";
    target.identity = "/var/lib/lcloud/my env/id_ed25519";
    target.known_hosts = "/var/lib/lcloud/known_hosts";
    CHECK(ssh_config_block("lcloud-web", target) ==
          "Host lcloud-web\n"
          "    HostName 192.168.122.9\n"
          "    Port 2200\n"
          "    User admin\n"
          "    IdentityFile \"/var/lib/lcloud/my env/id_ed25519\"\n"
          "    IdentitiesOnly yes\n"
          "    UserKnownHostsFile /var/lib/lcloud/known_hosts\n"
          "    GlobalKnownHostsFile /dev/null\n"
          "    StrictHostKeyChecking yes\n"
          "    LogLevel ERROR\n");

    target.identity = "relative/id";
    const std::string block = ssh_config_block("x", target);
    CHECK(block.find("IdentityFile " + (fs::current_path() / "relative/id").string() + "\n") !=
          std::string::npos);
}

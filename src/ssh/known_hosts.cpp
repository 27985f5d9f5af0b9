#include "ssh/known_hosts.hpp"

#include "ssh/keys.hpp"
#include "state/atomic_file.hpp"

#include <fmt/format.h>
#include <sstream>

namespace lcloud::ssh {

namespace fs = std::filesystem;

namespace {

// Whether the host field of a known_hosts line (a comma-separated list of names) lists `name`.
// Hashed names (|1|...) and patterns are left alone: lcloud never writes them.
bool names_host(const std::string& hosts_field, const std::string& name) {
    std::istringstream names(hosts_field);
    std::string candidate;
    while (std::getline(names, candidate, ','))
        if (candidate == name) return true;
    return false;
}

struct Entry {
    std::string hosts;
    std::string key; // "type base64"
};

// A line's host field and key; nullopt for comments, blank lines and @marker lines.
std::optional<Entry> parse_line(const std::string& line) {
    std::istringstream fields(line);
    Entry entry;
    std::string type, base64;
    if (!(fields >> entry.hosts >> type >> base64)) return std::nullopt;
    if (entry.hosts.starts_with('#') || entry.hosts.starts_with('@')) return std::nullopt;
    entry.key = type + " " + base64;
    return entry;
}

} // namespace

std::string known_hosts_name(const std::string& host, uint16_t port) {
    return port == 22 ? host : fmt::format("[{}]:{}", host, port);
}

void pin_host_key(const fs::path& known_hosts, const std::string& host, uint16_t port,
                  const std::string& public_key_line) {
    const std::string name = known_hosts_name(host, port);
    // Checked here so that a bad line fails now, not as a puzzling mismatch at connect.
    const KeyHandle key = parse_public_key_line(public_key_line, name);
    std::string content;
    std::istringstream lines(state::read_file(known_hosts).value_or(""));
    std::string line;
    while (std::getline(lines, line)) {
        const std::optional<Entry> entry = parse_line(line);
        if (entry && names_host(entry->hosts, name)) continue;
        content += line + "\n";
    }
    content += fmt::format("{} {}\n", name, public_key_text(key.get(), name));
    state::write_file_atomic(known_hosts, content, 0600);
}

std::optional<std::string> pinned_host_key(const fs::path& known_hosts, const std::string& host,
                                           uint16_t port) {
    const std::string name = known_hosts_name(host, port);
    std::istringstream lines(state::read_file(known_hosts).value_or(""));
    std::string line;
    while (std::getline(lines, line)) {
        const std::optional<Entry> entry = parse_line(line);
        if (entry && names_host(entry->hosts, name)) return entry->key;
    }
    return std::nullopt;
}

} // namespace lcloud::ssh

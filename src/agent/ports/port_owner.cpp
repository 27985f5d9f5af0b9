#include "agent/ports/port_owner.hpp"

#include <arpa/inet.h>
#include <array>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fmt/format.h>
#include <fstream>
#include <map>
#include <optional>
#include <set>
#include <sstream>
#include <system_error>
#include <vector>

namespace lcloud::agent {

namespace fs = std::filesystem;

namespace {

// An address as /proc/net prints it: each 32-bit word of the network-order address as %08X of
// its in-memory value, so parsing the hex back gives the same in-memory words.
using Words = std::array<uint32_t, 4>;

std::optional<Words> parse_words(const std::string& hex) {
    if (hex.size() != 8 && hex.size() != 32) return std::nullopt;
    Words words{};
    for (size_t i = 0; i < hex.size() / 8; ++i) {
        char* end = nullptr;
        const std::string word = hex.substr(i * 8, 8);
        words[i] = static_cast<uint32_t>(std::strtoul(word.c_str(), &end, 16));
        if (end != word.c_str() + 8) return std::nullopt;
    }
    return words;
}

bool v4_overlaps(uint32_t bound, uint32_t wanted) {
    return bound == wanted || bound == INADDR_ANY || wanted == INADDR_ANY;
}

// Whether a socket bound to `bound` (4 bytes in word 0, or 16 bytes) keeps `host_ip` from
// binding the same port.
bool overlaps(bool bound_v6, const Words& bound, const std::string& host_ip) {
    in_addr v4{};
    in6_addr v6{};
    if (::inet_pton(AF_INET, host_ip.c_str(), &v4) == 1) {
        if (!bound_v6) return v4_overlaps(bound[0], v4.s_addr);
        const bool any = bound[0] == 0 && bound[1] == 0 && bound[2] == 0 && bound[3] == 0;
        const bool mapped = bound[0] == 0 && bound[1] == 0 && bound[2] == htonl(0xffff);
        return any || (mapped && v4_overlaps(bound[3], v4.s_addr));
    }
    if (::inet_pton(AF_INET6, host_ip.c_str(), &v6) != 1 || !bound_v6) return false;
    Words wanted{};
    std::memcpy(wanted.data(), &v6, sizeof v6);
    const Words any{};
    return bound == wanted || bound == any || wanted == any;
}

// The inodes of sockets holding the port: listeners (or bound UDP sockets) first.
std::vector<std::string> holding_inodes(const Forward& forward) {
    const bool udp = forward.protocol == Protocol::udp;
    std::vector<std::string> listening, other;
    for (const bool v6 : {false, true}) {
        std::ifstream in(std::string("/proc/net/") + (udp ? "udp" : "tcp") + (v6 ? "6" : ""));
        std::string line;
        std::getline(in, line); // the header
        while (std::getline(in, line)) {
            std::istringstream fields(line);
            std::string slot, local, remote, state, queues, timer, retransmits, uid, timeout, inode;
            fields >> slot >> local >> remote >> state >> queues >> timer >> retransmits >> uid >>
                timeout >> inode;
            const auto colon = local.find(':');
            if (colon == std::string::npos || inode.empty() || inode == "0") continue;
            const unsigned long port = std::strtoul(local.c_str() + colon + 1, nullptr, 16);
            const auto words = parse_words(local.substr(0, colon));
            if (port != forward.host_port || !words) continue;
            if (!overlaps(v6, *words, forward.host_ip)) continue;
            // 0A is LISTEN; 07 is CLOSE, which is also how bound UDP sockets show.
            (state == "0A" || state == "07" ? listening : other).push_back(inode);
        }
    }
    listening.insert(listening.end(), other.begin(), other.end());
    return listening;
}

} // namespace

std::optional<PortOwner> find_port_owner(const Forward& forward) {
    const auto inodes = holding_inodes(forward);
    if (inodes.empty()) return std::nullopt;
    std::set<std::string> wanted;
    for (const auto& inode : inodes)
        wanted.insert("socket:[" + inode + "]");
    std::map<std::string, PortOwner> holders; // socket:[inode] -> its process
    std::error_code error;
    for (fs::directory_iterator process("/proc", error), end; !error && process != end;
         process.increment(error)) {
        const std::string pid = process->path().filename();
        if (pid.find_first_not_of("0123456789") != std::string::npos) continue;
        std::error_code gone;
        for (fs::directory_iterator fd(process->path() / "fd", gone), fds_end;
             !gone && fd != fds_end; fd.increment(gone)) {
            std::error_code unreadable;
            const std::string target = fs::read_symlink(fd->path(), unreadable).string();
            if (unreadable || !wanted.count(target) || holders.count(target)) continue;
            std::ifstream comm(process->path() / "comm");
            PortOwner owner{static_cast<pid_t>(std::stol(pid)), {}};
            std::getline(comm, owner.name);
            holders[target] = owner;
        }
    }
    for (const auto& inode : inodes) {
        const auto found = holders.find("socket:[" + inode + "]");
        if (found != holders.end()) return found->second;
    }
    return std::nullopt;
}

std::string describe_port_owner(const Forward& forward) {
    const auto owner = find_port_owner(forward);
    if (!owner) return {};
    return owner->name.empty() ? fmt::format(" by pid {}", owner->pid)
                               : fmt::format(" by {} (pid {})", owner->name, owner->pid);
}

} // namespace lcloud::agent

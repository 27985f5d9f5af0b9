#pragma once

#include <cstdint>
#include <string>

namespace lcloud::agent {

enum class Protocol { tcp, udp };

// HOST_IP:HOST_PORT on the host relayed to TARGET_IP:TARGET_PORT (a container).
struct Forward {
    Protocol protocol = Protocol::tcp;
    std::string host_ip = "127.0.0.1";
    uint16_t host_port = 0;
    std::string target_ip;
    uint16_t target_port = 0;
    bool operator==(const Forward&) const = default;
};

const char* protocol_name(Protocol protocol);

// "127.0.0.1:8080/tcp", "[::1]:8080/udp": the host side, as messages name it.
std::string host_side(const Forward& forward);

} // namespace lcloud::agent

#include "runtime/network/network.hpp"

#include <arpa/inet.h>
#include <charconv>
#include <fmt/format.h>

namespace lcloud::runtime::network {

std::string Ipv4::to_string() const {
    return fmt::format("{}.{}.{}.{}", value >> 24, (value >> 16) & 0xff, (value >> 8) & 0xff,
                       value & 0xff);
}

Ipv4 Ipv4::parse(const std::string& text) {
    in_addr address{};
    if (::inet_pton(AF_INET, text.c_str(), &address) != 1)
        throw NetworkError(fmt::format("\"{}\" is not an IPv4 address (like 10.89.0.2)", text));
    return Ipv4{ntohl(address.s_addr)};
}

std::string Subnet::to_string() const {
    return fmt::format("{}/{}", base.to_string(), prefix);
}

namespace {
uint32_t mask_of(int prefix) {
    return prefix == 0 ? 0 : ~uint32_t{0} << (32 - prefix);
}
} // namespace

Subnet Subnet::parse(const std::string& text) {
    const auto slash = text.find('/');
    int prefix = -1;
    if (slash != std::string::npos) {
        const char* first = text.data() + slash + 1;
        const char* last = text.data() + text.size();
        auto [end, error] = std::from_chars(first, last, prefix);
        if (error != std::errc{} || end != last) prefix = -1;
    }
    if (prefix < 0 || prefix > 32)
        throw NetworkError(fmt::format("\"{}\" is not a subnet (like 10.89.0.0/24)", text));
    const Ipv4 base = Ipv4::parse(text.substr(0, slash));
    if ((base.value & ~mask_of(prefix)) != 0)
        throw NetworkError(fmt::format("\"{}\" has host bits set: the subnet would be {}/{}", text,
                                       Ipv4{base.value & mask_of(prefix)}.to_string(), prefix));
    return Subnet{base, prefix};
}

bool Subnet::contains(Ipv4 address) const {
    return (address.value & mask_of(prefix)) == base.value;
}

bool Subnet::overlaps(const Subnet& other) const {
    const int shorter = std::min(prefix, other.prefix);
    return (base.value & mask_of(shorter)) == (other.base.value & mask_of(shorter));
}

} // namespace lcloud::runtime::network

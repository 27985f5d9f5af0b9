#include "agent/ports/forwards_file.hpp"

#include <fmt/format.h>

namespace lcloud::agent {

namespace {

uint16_t port_field(const nlohmann::json& entry, const char* key, const std::string& source) {
    const auto& value = entry.at(key);
    if (!value.is_number_integer() || value.get<int64_t>() < 1 || value.get<int64_t>() > 65535)
        throw InvalidForwardsFile(fmt::format("{}: \"{}\" must be a port number (1-65535), not {}",
                                              source, key, value.dump()));
    return value.get<uint16_t>();
}

} // namespace

ForwardsFile normalized(ForwardsFile file) {
    for (auto& forward : file.forwards)
        if (forward.host_ip.empty()) forward.host_ip = "127.0.0.1";
    return file;
}

nlohmann::json to_json(const ForwardsFile& file) {
    auto forwards = nlohmann::json::array();
    for (const auto& forward : file.forwards)
        forwards.push_back({{"protocol", protocol_name(forward.protocol)},
                            {"host_ip", forward.host_ip},
                            {"host_port", forward.host_port},
                            {"guest_port", forward.guest_port}});
    return {{"vm_address", file.vm_address}, {"forwards", std::move(forwards)}};
}

ForwardsFile forwards_from_json(const nlohmann::json& json, const std::string& source) {
    ForwardsFile file;
    try {
        file.vm_address = json.at("vm_address").get<std::string>();
        for (const auto& entry : json.at("forwards")) {
            HostForward forward;
            const auto protocol = entry.at("protocol").get<std::string>();
            if (protocol != "tcp" && protocol != "udp")
                throw InvalidForwardsFile(fmt::format(
                    "{}: protocol \"{}\" is neither \"tcp\" nor \"udp\"", source, protocol));
            forward.protocol = protocol == "udp" ? Protocol::udp : Protocol::tcp;
            forward.host_ip = entry.value("host_ip", "");
            forward.host_port = port_field(entry, "host_port", source);
            forward.guest_port = port_field(entry, "guest_port", source);
            file.forwards.push_back(std::move(forward));
        }
    } catch (const nlohmann::json::exception& error) {
        throw InvalidForwardsFile(fmt::format("{}: {}", source, error.what()));
    }
    return normalized(std::move(file));
}

ForwardsFile parse_forwards_file(std::string_view text, const std::string& source) {
    const auto json = nlohmann::json::parse(text, nullptr, false);
    if (json.is_discarded()) throw InvalidForwardsFile(fmt::format("{}: not JSON", source));
    return forwards_from_json(json, source);
}

std::vector<Forward> forwarder_targets(const ForwardsFile& file) {
    std::vector<Forward> out;
    for (const auto& forward : normalized(file).forwards)
        out.push_back(Forward{forward.protocol, forward.host_ip, forward.host_port, file.vm_address,
                              forward.guest_port});
    return out;
}

} // namespace lcloud::agent

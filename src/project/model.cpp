#include "project/model.hpp"

#include <fmt/format.h>

namespace lcloud::project {

const Container* Project::find_container(std::string_view container_name) const {
    for (const auto& container : containers)
        if (container.name == container_name) return &container;
    return nullptr;
}

std::string_view to_string(Provider provider) {
    return provider == Provider::local ? "local" : "libvirt";
}

std::string_view to_string(VmDriver driver) {
    switch (driver) {
    case VmDriver::kvm:
        return "kvm";
    case VmDriver::qemu:
        return "qemu";
    default:
        return "auto";
    }
}

std::string_view to_string(Protocol protocol) {
    return protocol == Protocol::udp ? "udp" : "tcp";
}

std::string_view to_string(VolumeType type) {
    switch (type) {
    case VolumeType::bind:
        return "bind";
    case VolumeType::tmpfs:
        return "tmpfs";
    default:
        return "volume";
    }
}

std::string_view to_string(DependencyCondition condition) {
    switch (condition) {
    case DependencyCondition::healthy:
        return "healthy";
    case DependencyCondition::completed:
        return "completed";
    default:
        return "started";
    }
}

std::string to_string(const RestartPolicy& restart) {
    switch (restart.kind) {
    case RestartKind::always:
        return "always";
    case RestartKind::unless_stopped:
        return "unless-stopped";
    case RestartKind::on_failure:
        return restart.max_retries > 0 ? fmt::format("on-failure:{}", restart.max_retries)
                                       : "on-failure";
    default:
        return "no";
    }
}

} // namespace lcloud::project

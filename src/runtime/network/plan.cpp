#include "runtime/network/plan.hpp"

#include "state/atomic_file.hpp"

#include <cerrno>
#include <fcntl.h>
#include <fmt/format.h>
#include <nlohmann/json.hpp>
#include <sys/file.h>
#include <unistd.h>

namespace lcloud::runtime::network {

namespace fs = std::filesystem;

namespace {

constexpr const char* plan_file = "networks.json";
constexpr const char* lock_file = "networks.lock";

uint32_t fnv1a_32(std::string_view text) {
    uint32_t hash = 2166136261u;
    for (const unsigned char c : text)
        hash = (hash ^ c) * 16777619u;
    return hash;
}

uint64_t fnv1a_64(std::string_view text) {
    uint64_t hash = 14695981039346656037ull;
    for (const unsigned char c : text)
        hash = (hash ^ c) * 1099511628211ull;
    return hash;
}

} // namespace

PlanLock::PlanLock(const fs::path& state_dir, Mode mode) {
    const fs::path path = state_dir / lock_file;
    if (mode == Mode::exclusive) {
        std::error_code error;
        fs::create_directories(state_dir, error);
        if (error) throw SystemError("create state directory", state_dir.string(), error.value());
    }
    fd_ = Fd(::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600));
    if (!fd_) {
        if (mode == Mode::shared && errno == ENOENT) return;
        throw_errno("open network plan lock", path.string());
    }
    const int operation = mode == Mode::exclusive ? LOCK_EX : LOCK_SH;
    while (::flock(fd_.get(), operation) != 0)
        if (errno != EINTR) throw_errno("flock", path.string());
}

std::string plan_to_json(const Plan& plan) {
    nlohmann::ordered_json networks = nlohmann::ordered_json::object();
    for (const auto& [name, network] : plan.networks) {
        nlohmann::ordered_json addresses = nlohmann::ordered_json::object();
        for (const auto& [container, address] : network.addresses)
            addresses[container] = address.to_string();
        networks[name] = {{"bridge", network.bridge},
                          {"subnet", network.subnet.to_string()},
                          {"addresses", std::move(addresses)}};
    }
    nlohmann::ordered_json document = {{"version", 1}, {"networks", std::move(networks)}};
    return document.dump(2) + "\n";
}

Plan plan_from_json(const std::string& text, const std::string& source) {
    const auto damaged = [&](const std::string& what) {
        return NetworkError(fmt::format(
            "network plan {} is damaged: {}; repair it, or remove it to forget every network's "
            "subnet and addresses (then remove the lcbr- bridges by hand)",
            source, what));
    };
    Plan plan;
    try {
        const auto document = nlohmann::json::parse(text);
        if (document.value("version", 0) != 1)
            throw damaged("\"version\" is not 1 (this lcloud writes version 1)");
        for (const auto& [name, entry] : document.at("networks").items()) {
            NetworkInfo network;
            network.name = name;
            network.bridge = entry.at("bridge").get<std::string>();
            network.subnet = Subnet::parse(entry.at("subnet").get<std::string>());
            for (const auto& [container, address] : entry.at("addresses").items())
                network.addresses[container] = Ipv4::parse(address.get<std::string>());
            if (network.bridge != bridge_name(name))
                throw damaged(fmt::format("network \"{}\" has bridge \"{}\", expected \"{}\"", name,
                                          network.bridge, bridge_name(name)));
            plan.networks.emplace(name, std::move(network));
        }
    } catch (const nlohmann::json::exception& error) {
        throw damaged(error.what());
    } catch (const NetworkError& error) {
        if (std::string_view(error.what()).starts_with("network plan")) throw;
        throw damaged(error.what());
    }
    return plan;
}

Plan read_plan(const fs::path& state_dir) {
    const fs::path path = state_dir / plan_file;
    const auto text = state::read_file(path);
    if (!text) return {};
    return plan_from_json(*text, path.string());
}

void write_plan(const fs::path& state_dir, const Plan& plan) {
    // Networks live as long as the host is up; a reboot rebuilds them from a plan that is
    // still best kept (addresses stay stable), hence power_loss.
    state::write_file_atomic(state_dir / plan_file, plan_to_json(plan), 0600,
                             state::Durability::power_loss);
}

std::optional<Subnet> choose_subnet(const Subnet& pool, const std::vector<Subnet>& taken) {
    const int prefix = std::max(pool.prefix, 24);
    const uint64_t step = uint64_t{1} << (32 - prefix);
    for (uint64_t base = pool.base.value; base < pool.base.value + pool.size(); base += step) {
        const Subnet candidate{Ipv4{static_cast<uint32_t>(base)}, prefix};
        bool clashes = false;
        for (const Subnet& used : taken)
            clashes = clashes || candidate.overlaps(used);
        if (!clashes) return candidate;
    }
    return std::nullopt;
}

std::optional<Ipv4> choose_address(const NetworkInfo& network) {
    const uint64_t base = network.subnet.base.value;
    // .0 is the network, .1 the gateway, the last the broadcast address.
    for (uint64_t address = base + 2; address + 1 < base + network.subnet.size(); ++address) {
        bool used = false;
        for (const auto& [container, held] : network.addresses)
            used = used || held.value == address;
        if (!used) return Ipv4{static_cast<uint32_t>(address)};
    }
    return std::nullopt;
}

std::string bridge_name(const std::string& network) {
    return fmt::format("lcbr-{:08x}", fnv1a_32(network));
}

std::string host_veth_name(const std::string& network, const std::string& container_id) {
    return fmt::format("lcv{:010x}", fnv1a_64(network + "/" + container_id) & 0xff'ffff'ffffull);
}

} // namespace lcloud::runtime::network

#pragma once

// The address plan on disk (STATE/networks.json, changed under a flock on STATE/networks.lock)
// and the choices made from it: subnets, container addresses, interface names.

#include "common/fd.hpp"
#include "runtime/network/network.hpp"

#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace lcloud::runtime::network {

struct Plan {
    std::map<std::string, NetworkInfo> networks;
};

// Holds a flock on STATE/networks.lock for as long as it lives.
class PlanLock {
  public:
    enum class Mode { shared, exclusive };
    // Exclusive creates the state directory; shared on a missing directory holds no lock
    // (there is nothing to read yet), see held().
    PlanLock(const std::filesystem::path& state_dir, Mode mode);
    bool held() const { return static_cast<bool>(fd_); }

  private:
    Fd fd_;
};

// An empty plan when the file does not exist; NetworkError naming the file when it is damaged.
Plan read_plan(const std::filesystem::path& state_dir);
void write_plan(const std::filesystem::path& state_dir, const Plan& plan);

std::string plan_to_json(const Plan& plan);
Plan plan_from_json(const std::string& text, const std::string& source);

// The first subnet of the pool (cut in /24s, or the pool itself when narrower) that overlaps
// none of `taken`; nullopt when every one does.
std::optional<Subnet> choose_subnet(const Subnet& pool, const std::vector<Subnet>& taken);
// The lowest host address from .2 up that no container of the network holds.
std::optional<Ipv4> choose_address(const NetworkInfo& network);

// "lcbr-" + 8 hex digits of FNV-1a 32 of the name.
std::string bridge_name(const std::string& network);
// "lcv" + 10 hex digits of FNV-1a 64 of network + "/" + container id.
std::string host_veth_name(const std::string& network, const std::string& container_id);

} // namespace lcloud::runtime::network

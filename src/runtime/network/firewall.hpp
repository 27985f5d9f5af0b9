#pragma once

// The nftables side of a network, through libnftables: table `inet lcloud`, and per network two
// base chains named after its bridge, so a network's rules are found, replaced and removed
// without touching another's:
//   <bridge>-nat      postrouting: masquerade what the subnet sends out of another interface;
//   <bridge>-forward  forward: drop traffic to or from another lcloud bridge, accept the
//                     bridge's traffic out and what answers it (or was published by DNAT),
//                     drop the rest that comes in from outside.

#include "runtime/network/network.hpp"

#include <memory>
#include <string>

struct nft_ctx;

namespace lcloud::runtime::network {

inline constexpr const char* nft_table = "lcloud";

class Nftables {
  public:
    Nftables();

    // Creates the table when missing and (re)fills the network's chains in one transaction:
    // running it again changes nothing, and it repairs chains flushed or deleted by hand.
    void install(const NetworkInfo& network);
    // Deletes the network's chains; no error when they are gone.
    void uninstall(const std::string& bridge);
    // Deletes table `inet lcloud` when no chain is left in it.
    void remove_table_if_empty();

    // Runs nft commands; returns what they print (JSON when `json`). Throws NetworkError with
    // nft's error text, naming `purpose`.
    std::string run(const std::string& commands, const std::string& purpose, bool json = false);

  private:
    struct ContextFree {
        void operator()(nft_ctx* context) const;
    };
    std::unique_ptr<nft_ctx, ContextFree> context_;
};

std::string nat_chain(const std::string& bridge);
std::string forward_chain(const std::string& bridge);

} // namespace lcloud::runtime::network

#include "runtime/network/firewall.hpp"

#include <cctype>
#include <fmt/format.h>
#include <nftables/libnftables.h>
#include <nlohmann/json.hpp>

namespace lcloud::runtime::network {

namespace {

// Network names come from projects; nft's string syntax gets only harmless characters.
std::string comment_for(const std::string& network) {
    std::string safe;
    for (const char c : network.substr(0, 100))
        safe += (std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '-' || c == '.' ||
                 c == ':' || c == '/')
                    ? c
                    : '_';
    return "lcloud network " + safe;
}

} // namespace

std::string nat_chain(const std::string& bridge) {
    return bridge + "-nat";
}

std::string forward_chain(const std::string& bridge) {
    return bridge + "-forward";
}

void Nftables::ContextFree::operator()(nft_ctx* context) const {
    nft_ctx_free(context);
}

Nftables::Nftables() : context_(nft_ctx_new(NFT_CTX_DEFAULT)) {
    if (!context_) throw NetworkError("create a libnftables context: out of memory");
    if (nft_ctx_buffer_output(context_.get()) != 0 || nft_ctx_buffer_error(context_.get()) != 0)
        throw NetworkError("buffer the output of libnftables: out of memory");
}

std::string Nftables::run(const std::string& commands, const std::string& purpose, bool json) {
    nft_ctx* context = context_.get();
    const unsigned flags = nft_ctx_output_get_flags(context);
    nft_ctx_output_set_flags(context, json ? flags | NFT_CTX_OUTPUT_JSON
                                           : flags & ~unsigned{NFT_CTX_OUTPUT_JSON});
    const int status = nft_run_cmd_from_buffer(context, commands.c_str());
    // Reading a buffer also empties it for the next command.
    std::string output = nft_ctx_get_output_buffer(context);
    std::string error = nft_ctx_get_error_buffer(context);
    if (status != 0) {
        while (!error.empty() && error.back() == '\n')
            error.pop_back();
        throw NetworkError(fmt::format(
            "nftables: {}: {} (it needs CAP_NET_ADMIN and the kernel's nf_tables and nft_nat)",
            purpose, error.empty() ? "failed without a message" : error));
    }
    return output;
}

void Nftables::install(const NetworkInfo& network) {
    const std::string& bridge = network.bridge;
    const std::string table = fmt::format("inet {}", nft_table);
    const std::string comment = comment_for(network.name);
    const std::string nat = fmt::format("{} {}", table, nat_chain(bridge));
    const std::string forward = fmt::format("{} {}", table, forward_chain(bridge));
    std::string commands;
    const auto add = [&](const std::string& line) { commands += line + "\n"; };
    add("add table " + table);
    add(fmt::format("add chain {} {{ type nat hook postrouting priority srcnat; policy accept; "
                    "comment \"{}\"; }}",
                    nat, comment));
    add("flush chain " + nat);
    add(fmt::format("add rule {} ip saddr {} oifname != \"{}\" masquerade", nat,
                    network.subnet.to_string(), bridge));
    add(fmt::format("add chain {} {{ type filter hook forward priority filter; policy accept; "
                    "comment \"{}\"; }}",
                    forward, comment));
    add("flush chain " + forward);
    // Another lcloud bridge on either side: two environments never reach each other.
    add(fmt::format("add rule {} iifname \"{}\" oifname \"lcbr-*\" oifname != \"{}\" drop", forward,
                    bridge, bridge));
    add(fmt::format("add rule {} oifname \"{}\" iifname \"lcbr-*\" iifname != \"{}\" drop", forward,
                    bridge, bridge));
    add(fmt::format("add rule {} iifname \"{}\" accept", forward, bridge));
    add(fmt::format("add rule {} oifname \"{}\" ct state established,related accept", forward,
                    bridge));
    // Published ports arrive DNATed.
    add(fmt::format("add rule {} oifname \"{}\" ct status dnat accept", forward, bridge));
    add(fmt::format("add rule {} oifname \"{}\" drop", forward, bridge));
    run(commands, fmt::format("install the rules of bridge {} (subnet {})", bridge,
                              network.subnet.to_string()));
}

void Nftables::uninstall(const std::string& bridge) {
    const std::string table = fmt::format("inet {}", nft_table);
    std::string commands = "add table " + table + "\n";
    // Adding first makes the deletion succeed whether or not the chain was there.
    for (const std::string& chain : {nat_chain(bridge), forward_chain(bridge)})
        commands += fmt::format("add chain {0} {1}\nflush chain {0} {1}\ndelete chain {0} {1}\n",
                                table, chain);
    run(commands, fmt::format("delete the chains of bridge {}", bridge));
}

void Nftables::remove_table_if_empty() {
    const std::string listing =
        run("list chains inet", "list the chains of the inet family", /*json=*/true);
    try {
        const auto document = nlohmann::json::parse(listing);
        for (const auto& entry : document.at("nftables"))
            if (entry.contains("chain") && entry["chain"].value("table", "") == nft_table) return;
    } catch (const nlohmann::json::exception& error) {
        throw NetworkError(
            fmt::format("nftables: unexpected JSON from \"list chains inet\": {}", error.what()));
    }
    run(fmt::format("add table inet {0}\ndelete table inet {0}\n", nft_table),
        fmt::format("delete the empty table inet {}", nft_table));
}

} // namespace lcloud::runtime::network

#include "cli/app.hpp"

#include <fmt/format.h>
#include <iostream>
#include <libssh/libssh.h>
#include <libvirt/libvirt.h>
#include <nlohmann/json.hpp>

namespace lcloud::cli {

static std::string libvirt_version() {
    unsigned long version = 0;
    if (virGetVersion(&version, nullptr, nullptr) != 0) return "unknown";
    return fmt::format("{}.{}.{}", version / 1000000, version / 1000 % 1000, version % 1000);
}

static std::string libssh_version() {
    // ssh_version reports "0.10.6/openssl/zlib"; the part before '/' is the version.
    const std::string full = ssh_version(0) ? ssh_version(0) : "unknown";
    return full.substr(0, full.find('/'));
}

void add_version_command(CLI::App& app, Context& context) {
    auto* command = app.add_subcommand("version", "Print the versions of lcloud and its libraries");
    command->footer("Example:\n  lcloud version --json");
    context.on_run(command, [&context] {
        const nlohmann::ordered_json versions = {{"lcloud", LCLOUD_VERSION},
                                                 {"libvirt", libvirt_version()},
                                                 {"libssh", libssh_version()},
                                                 {"yaml-cpp", LCLOUD_YAML_CPP_VERSION}};
        if (context.options().json) {
            std::cout << versions.dump(2) << '\n';
            return;
        }
        for (const auto& [name, version] : versions.items())
            std::cout << name << ' ' << version.get<std::string>() << '\n';
    });
}

} // namespace lcloud::cli

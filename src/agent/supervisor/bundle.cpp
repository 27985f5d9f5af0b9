#include "agent/supervisor/bundle.hpp"

#include "common/error.hpp"
#include "common/strings.hpp"
#include "runtime/oci/defaults.hpp"
#include "runtime/rootfs/safe_path.hpp"

#include <charconv>
#include <fcntl.h>
#include <fmt/format.h>
#include <unistd.h>

namespace lcloud::agent {

namespace fs = std::filesystem;
namespace oci = runtime::oci;

namespace {

std::optional<uint32_t> parse_id(std::string_view text) {
    uint32_t value = 0;
    auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), value);
    if (error != std::errc{} || end != text.data() + text.size() || text.empty())
        return std::nullopt;
    return value;
}

// /etc/passwd or /etc/group of the container, read inside its root (a symlink in the image
// never leads to the host's).
std::string read_in_root(const fs::path& rootfs, std::string_view path) {
    Fd root(::open(rootfs.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC));
    if (!root) return {};
    Fd file = runtime::rootfs::open_in_root_if_exists(root.get(), path, O_RDONLY);
    if (!file) return {};
    std::string content;
    char buffer[8192];
    for (ssize_t got; (got = ::read(file.get(), buffer, sizeof buffer)) > 0;)
        content.append(buffer, static_cast<size_t>(got));
    return content;
}

// The entry whose first field (name) or third (id) is `key`: its fields.
std::optional<std::vector<std::string>> find_entry(const std::string& table, std::string_view key) {
    for (const auto& line : split(table, '\n')) {
        auto fields = split(line, ':');
        if (fields.size() >= 4 && (fields[0] == key || fields[2] == key)) return fields;
    }
    return std::nullopt;
}

oci::User resolve_user(const ContainerSpec& spec, const std::string& user_text,
                       const fs::path& rootfs) {
    oci::User user;
    if (user_text.empty()) return user;
    const auto colon = user_text.find(':');
    const std::string name = user_text.substr(0, colon);
    const std::string group = colon == std::string::npos ? "" : user_text.substr(colon + 1);
    const std::string passwd = read_in_root(rootfs, "/etc/passwd");
    if (auto id = parse_id(name)) {
        user.uid = *id;
        if (auto entry = find_entry(passwd, name)) user.gid = parse_id((*entry)[3]).value_or(0);
    } else if (auto entry = find_entry(passwd, name)) {
        user.uid = parse_id((*entry)[2]).value_or(0);
        user.gid = parse_id((*entry)[3]).value_or(0);
    } else {
        throw Error(fmt::format("container {}: user \"{}\" is not in the image's /etc/passwd; "
                                "give a number (uid[:gid]) or a user the image has",
                                spec.service, name));
    }
    if (!group.empty()) {
        if (auto id = parse_id(group))
            user.gid = *id;
        else if (auto entry = find_entry(read_in_root(rootfs, "/etc/group"), group))
            user.gid = parse_id((*entry)[2]).value_or(0);
        else
            throw Error(fmt::format("container {}: group \"{}\" is not in the image's "
                                    "/etc/group",
                                    spec.service, group));
    }
    return user;
}

std::vector<std::string> merged_env(const ContainerSpec& spec,
                                    const runtime::image::ImageConfig& image) {
    std::vector<std::pair<std::string, std::string>> env;
    auto set = [&env](const std::string& key, const std::string& value) {
        for (auto& entry : env)
            if (entry.first == key) {
                entry.second = value;
                return;
            }
        env.emplace_back(key, value);
    };
    set("PATH", "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin");
    for (const auto& entry : image.env) {
        const auto equals = entry.find('=');
        set(entry.substr(0, equals), equals == std::string::npos ? "" : entry.substr(equals + 1));
    }
    set("HOSTNAME", container_hostname(spec));
    for (const auto& [key, value] : spec.env)
        set(key, value);
    std::vector<std::string> out;
    for (const auto& [key, value] : env)
        out.push_back(key + "=" + value);
    return out;
}

oci::Mount file_bind(const fs::path& source, const std::string& destination) {
    return oci::Mount{destination, "bind", source.string(), {"rbind", "rprivate"}};
}

} // namespace

std::string container_hostname(const ContainerSpec& spec) {
    if (!spec.hostname.empty()) return spec.hostname;
    return spec.replica > 0 ? fmt::format("{}-{}", spec.service, spec.replica) : spec.service;
}

oci::Config make_container_config(const ContainerSpec& spec,
                                  const runtime::image::ImageConfig& image,
                                  const ContainerPaths& paths, const fs::path& volumes_root) {
    oci::Config config = oci::default_spec();
    config.root.path = paths.rootfs().string();
    config.root.readonly = false;
    config.hostname = container_hostname(spec);

    oci::Process& process = *config.process;
    std::vector<std::string> args =
        spec.entrypoint ? *spec.entrypoint : image.entrypoint.value_or(std::vector<std::string>{});
    if (spec.command)
        args.insert(args.end(), spec.command->begin(), spec.command->end());
    else if (!spec.entrypoint && image.cmd)
        args.insert(args.end(), image.cmd->begin(), image.cmd->end());
    if (args.empty())
        throw Error(fmt::format("container {}: neither its image ({}) nor the project file gives "
                                "a command; set 'command:'",
                                spec.service, spec.image));
    process.args = std::move(args);
    process.env = merged_env(spec, image);
    process.cwd = !spec.working_dir.empty()    ? spec.working_dir
                  : !image.working_dir.empty() ? image.working_dir
                                               : "/";
    process.user = resolve_user(spec, spec.user.empty() ? image.user : spec.user, paths.rootfs());

    config.mounts.push_back(file_bind(paths.hosts(), "/etc/hosts"));
    config.mounts.push_back(file_bind(paths.resolv_conf(), "/etc/resolv.conf"));
    config.mounts.push_back(file_bind(paths.hostname(), "/etc/hostname"));
    for (const auto& mount : spec.mounts) {
        std::vector<std::string> options;
        if (mount.type == "tmpfs") {
            options = {"nosuid", "nodev", "mode=1777"};
            if (mount.read_only) options.push_back("ro");
            config.mounts.push_back(oci::Mount{mount.target, "tmpfs", "tmpfs", options});
            continue;
        }
        options = {"rbind", "rprivate"};
        if (mount.read_only) options.push_back("ro");
        const fs::path source =
            mount.type == "volume" ? volumes_root / mount.source / "data" : fs::path(mount.source);
        if (mount.type != "volume" && !fs::exists(source))
            throw Error(fmt::format("container {}: the bind mount source {} does not exist; "
                                    "create it, or fix the volume's source",
                                    spec.service, source.string()));
        config.mounts.push_back(oci::Mount{mount.target, "bind", source.string(), options});
    }

    oci::Resources resources = config.linux.resources.value_or(oci::Resources{});
    if (spec.memory_bytes) {
        resources.memory = oci::MemoryResources{};
        resources.memory->limit = static_cast<int64_t>(*spec.memory_bytes);
    }
    if (spec.cpus) {
        resources.cpu = oci::CpuResources{};
        resources.cpu->period = 100000;
        resources.cpu->quota = static_cast<int64_t>(*spec.cpus * 100000);
    }
    config.linux.resources = resources;
    config.linux.cgroups_path = "/lcloud-agent/" + spec.id;
    config.annotations["lcloud.environment"] = spec.environment;
    config.annotations["lcloud.service"] = spec.service;
    return config;
}

} // namespace lcloud::agent

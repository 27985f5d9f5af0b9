#include "project/dotenv.hpp"
#include "project/loader_internal.hpp"
#include "project/ports.hpp"
#include "project/volumes.hpp"
#include "state/atomic_file.hpp"

#include <fmt/format.h>
#include <regex>

namespace lcloud::project {

namespace fs = std::filesystem;

namespace {

const std::vector<std::string_view> container_keys = {
    "image",    "build",    "command",    "entrypoint",       "working_dir",
    "user",     "hostname", "labels",     "environment",      "env_file",
    "ports",    "volumes",  "depends_on", "healthcheck",      "restart",
    "replicas", "memory",   "cpus",       "stop_grace_period"};
const std::vector<std::string_view> build_keys = {"context", "dockerfile", "args"};
const std::vector<std::string_view> port_keys = {"target", "published", "host_ip",     "protocol",
                                                 "mode",   "name",      "app_protocol"};
const std::vector<std::string_view> volume_keys = {"type", "source", "target", "read_only"};
const std::vector<std::string_view> healthcheck_keys = {
    "test", "interval", "timeout", "retries", "start_period", "start_interval", "disable"};
const std::vector<std::string_view> depends_on_keys = {"condition", "restart", "required"};

std::optional<std::string> compose_container_hint(std::string_view key) {
    if (key == "container_name") return "a container is named by its key under 'containers'";
    if (key == "deploy") return "write 'replicas', 'memory' and 'cpus' on the container itself";
    if (key == "mem_limit") return "did you mean 'memory'?";
    if (key == "networks" || key == "network_mode")
        return "the containers of an environment share one network and find each other by name";
    return std::nullopt;
}

// Image references as Docker accepts them: lowercase repository path, optional tag or digest.
bool is_image_reference(std::string_view image) {
    static const std::regex pattern(
        R"(^([a-zA-Z0-9.-]+(:[0-9]+)?/)?[a-z0-9]+([._-]+[a-z0-9]+)*(/[a-z0-9]+([._-]+[a-z0-9]+)*)*)"
        R"((:[A-Za-z0-9_][A-Za-z0-9_.-]{0,127})?(@sha256:[a-f0-9]{64})?$)");
    return std::regex_match(image.begin(), image.end(), pattern);
}

class ContainerReader {
  public:
    ContainerReader(LoadContext& context, const MapEntry& entry)
        : context_(context), reader_(context.reader), entry_(entry),
          owner_("in container '" + entry.key + "'") {
        container_.name = entry.key;
        container_.where = entry.key_where;
    }

    std::optional<Container> read() {
        if (!is_dns_label(entry_.key))
            reader_.error(entry_.key_where,
                          fmt::format("container name {}", dns_label_problem(entry_.key)));
        const auto items = reader_.entries(entry_.value, path(""));
        if (!items) return std::nullopt;
        for (const auto& item : *items) {
            if (std::find(container_keys.begin(), container_keys.end(), item.key) !=
                container_keys.end()) {
                read_key(item);
            } else if (const auto hint = compose_container_hint(item.key)) {
                reader_.error(item.key_where,
                              fmt::format("unknown key '{}' {}; {}", item.key, owner_, *hint));
            } else {
                reader_.reject_unknown_keys({item}, container_keys, owner_);
            }
        }
        if (container_.image.empty() && !container_.build) {
            if (!has_key(*items, "image") && !has_key(*items, "build"))
                reader_.error(entry_.key_where,
                              fmt::format("container '{}' needs 'image' (such as "
                                          "debian:bookworm) or 'build' (a directory with a "
                                          "Containerfile)",
                                          entry_.key));
        } else if (container_.image.empty()) {
            container_.image = fmt::format("{}/{}:latest", context_.project_name, container_.name);
        }
        if (container_.replicas > 1 && is_dns_label(entry_.key) &&
            entry_.key.size() + 1 + std::to_string(container_.replicas).size() > 63)
            reader_.error(entry_.key_where,
                          fmt::format("container name '{}' leaves no room for replica numbers "
                                      "('{}-{}' is longer than 63 characters); shorten it",
                                      entry_.key, entry_.key, container_.replicas));
        for (const auto& port : container_.ports)
            if (container_.replicas > 1 && port.host_start != 0)
                reader_.error(port.where,
                              fmt::format("{}.ports: '{}' publishes a fixed host port, but all {} "
                                          "replicas would claim it; publish it from a single "
                                          "container (such as a proxy in front) or drop the "
                                          "host port",
                                          path(""), format_port_mapping(port),
                                          container_.replicas));
        return std::move(container_);
    }

  private:
    static bool has_key(const std::vector<MapEntry>& items, std::string_view key) {
        return std::any_of(items.begin(), items.end(),
                           [&](const MapEntry& item) { return item.key == key; });
    }

    std::string path(std::string_view key) const {
        const std::string base = "containers." + entry_.key;
        return key.empty() ? base : base + "." + std::string(key);
    }

    void read_key(const MapEntry& item) {
        const std::string key_path = path(item.key);
        const YAML::Node& value = item.value;
        if (value.IsNull()) {
            reader_.error(
                item.key_where,
                fmt::format("{}: the value is empty; give one or remove the key", key_path));
            return;
        }
        if (item.key == "image")
            read_image(value, key_path);
        else if (item.key == "build")
            read_build(value, key_path);
        else if (item.key == "command")
            container_.command = reader_.string_list(value, key_path, true);
        else if (item.key == "entrypoint")
            container_.entrypoint = reader_.string_list(value, key_path, true);
        else if (item.key == "working_dir")
            read_absolute(value, key_path, container_.working_dir);
        else if (item.key == "user") {
            if (auto user = reader_.string(value, key_path)) container_.user = *user;
        } else if (item.key == "hostname") {
            const auto hostname = reader_.string(value, key_path);
            const auto labels = hostname ? split(*hostname, '.') : std::vector<std::string>{};
            if (hostname && std::all_of(labels.begin(), labels.end(), is_dns_label) &&
                hostname->size() <= 253)
                container_.hostname = *hostname;
            else if (hostname)
                reader_.error(YamlReader::where(value),
                              fmt::format("{}: {}", key_path, dns_label_problem(*hostname)));
        } else if (item.key == "labels") {
            if (auto labels = reader_.string_map(value, key_path, no_value))
                container_.labels = std::move(*labels);
        } else if (item.key == "environment") {
            if (auto environment = reader_.string_map(value, key_path, context_.variables))
                explicit_environment_ = std::move(*environment);
            for (auto& [key, variable] : explicit_environment_)
                container_.environment[key] = variable;
        } else if (item.key == "env_file")
            read_env_files(value, key_path);
        else if (item.key == "ports")
            read_ports(value, key_path);
        else if (item.key == "volumes")
            read_volumes(value, key_path);
        else if (item.key == "depends_on")
            read_depends_on(value, key_path);
        else if (item.key == "healthcheck")
            read_healthcheck(value, key_path);
        else if (item.key == "restart")
            read_restart(value, key_path);
        else if (item.key == "replicas") {
            if (auto replicas = reader_.parse(value, key_path, [](const std::string& text) {
                    return parse_integer(text, 0, 99);
                }))
                container_.replicas = static_cast<int>(*replicas);
        } else if (item.key == "memory") {
            auto memory = reader_.parse(value, key_path, parse_size);
            if (memory && *memory < 4 * MiB)
                reader_.error(YamlReader::where(value),
                              fmt::format("{}: {} is too small; a container needs at least 4MiB",
                                          key_path, format_size(*memory)));
            else if (memory)
                container_.memory_bytes = memory;
        } else if (item.key == "cpus") {
            container_.cpus = reader_.parse(value, key_path, parse_cpu_share);
        } else if (item.key == "stop_grace_period") {
            if (auto period = reader_.parse(value, key_path, parse_duration))
                container_.stop_grace_period = *period;
        }
    }

    static std::optional<std::string> no_value(std::string_view) { return std::string(); }

    void read_image(const YAML::Node& value, const std::string& key_path) {
        const auto image = reader_.string(value, key_path);
        if (!image) return;
        if (!is_image_reference(*image)) {
            const std::string lower = to_lower(*image);
            reader_.error(YamlReader::where(value),
                          fmt::format("{}: '{}' is not a valid image name; expected "
                                      "[REGISTRY/]NAME[:TAG] in lowercase, such as "
                                      "debian:bookworm{}",
                                      key_path, *image,
                                      lower != *image && is_image_reference(lower)
                                          ? fmt::format(" (did you mean '{}'?)", lower)
                                          : ""));
            return;
        }
        container_.image = *image;
    }

    void read_absolute(const YAML::Node& value, const std::string& key_path, std::string& out) {
        const auto text = reader_.string(value, key_path);
        if (text && !text->empty() && text->front() == '/')
            out = *text;
        else if (text)
            reader_.error(YamlReader::where(value),
                          fmt::format("{}: '{}' must be an absolute path in the container, such "
                                      "as /app",
                                      key_path, *text));
    }

    void read_build(const YAML::Node& value, const std::string& key_path) {
        BuildSpec build;
        std::optional<std::string> context_dir;
        if (value.IsScalar()) {
            context_dir = reader_.string(value, key_path);
        } else {
            const auto items = reader_.entries(value, key_path);
            if (!items) return;
            reader_.reject_unknown_keys(*items, build_keys,
                                        "in 'build' of container '" + entry_.key + "'");
            for (const auto& item : *items) {
                const std::string item_path = key_path + "." + item.key;
                if (item.key == "context")
                    context_dir = reader_.string(item.value, item_path);
                else if (item.key == "dockerfile") {
                    if (auto file = reader_.string(item.value, item_path)) build.dockerfile = *file;
                } else if (item.key == "args") {
                    if (auto args = reader_.string_map(item.value, item_path, context_.variables))
                        build.args = std::move(*args);
                }
            }
            if (!context_dir) {
                reader_.error(YamlReader::where(value),
                              fmt::format("{}: 'context' is missing; give the directory that "
                                          "holds the Containerfile, such as images/web",
                                          key_path));
                return;
            }
        }
        if (!context_dir) return;
        build.context = (context_.project_dir / *context_dir).lexically_normal();
        if (!fs::is_directory(build.context)) {
            reader_.error(YamlReader::where(value),
                          fmt::format("{}: build directory '{}' does not exist in the project",
                                      key_path, *context_dir));
            return;
        }
        if (build.dockerfile.empty()) {
            for (const char* candidate : {"Containerfile", "Dockerfile"})
                if (fs::is_regular_file(build.context / candidate)) {
                    build.dockerfile = candidate;
                    break;
                }
            if (build.dockerfile.empty()) {
                reader_.error(YamlReader::where(value),
                              fmt::format("{}: build directory '{}' has no Containerfile or "
                                          "Dockerfile",
                                          key_path, *context_dir));
                return;
            }
        } else if (!fs::is_regular_file(build.context / build.dockerfile)) {
            reader_.error(YamlReader::where(value),
                          fmt::format("{}: '{}' is not a file in the build directory '{}'",
                                      key_path, build.dockerfile, *context_dir));
            return;
        }
        container_.build = std::move(build);
    }

    void read_env_files(const YAML::Node& value, const std::string& key_path) {
        std::vector<std::pair<std::string, YAML::Node>> files;
        if (value.IsSequence()) {
            for (const auto& item : value) {
                const YAML::Node path_node = item.IsMap() ? item["path"] : item;
                if (!path_node.IsDefined()) {
                    reader_.error(YamlReader::where(item),
                                  fmt::format("{}: an entry needs 'path'", key_path));
                    continue;
                }
                if (auto file = reader_.string(path_node, key_path))
                    files.emplace_back(*file, path_node);
            }
        } else if (auto file = reader_.string(value, key_path)) {
            files.emplace_back(*file, value);
        }
        for (const auto& [file, node] : files) {
            const fs::path absolute = (context_.project_dir / file).lexically_normal();
            std::optional<std::string> text;
            try {
                text = state::read_file(absolute);
            } catch (const Error& error) {
                reader_.error(YamlReader::where(node), fmt::format("{}: cannot read '{}': {}",
                                                                   key_path, file, error.what()));
                continue;
            }
            if (!text) {
                reader_.error(
                    YamlReader::where(node),
                    fmt::format("{}: env file '{}' does not exist in the project directory",
                                key_path, file));
                continue;
            }
            try {
                for (auto& [key, variable] : parse_dotenv(*text))
                    if (!explicit_environment_.count(key)) container_.environment[key] = variable;
            } catch (const InvalidValue& invalid) {
                reader_.error(
                    YamlReader::where(node),
                    fmt::format("{}: env file '{}', {}", key_path, file, invalid.message()));
                continue;
            }
            container_.env_files.push_back(absolute);
        }
    }

    void read_ports(const YAML::Node& value, const std::string& key_path) {
        if (!value.IsSequence()) {
            reader_.error(YamlReader::where(value),
                          fmt::format("{}: expected a list such as [\"8080:80\"], got {}", key_path,
                                      YamlReader::kind_name(value)));
            return;
        }
        for (const auto& item : value) {
            std::optional<PortMapping> mapping =
                item.IsMap() ? read_long_port(item, key_path)
                             : reader_.parse(item, key_path, [](const std::string& spec) {
                                   return parse_port_spec(spec);
                               });
            if (!mapping) continue;
            mapping->where = YamlReader::where(item);
            container_.ports.push_back(*mapping);
        }
    }

    std::optional<PortMapping> read_long_port(const YAML::Node& node, const std::string& key_path) {
        const auto items = reader_.entries(node, key_path);
        if (!items) return std::nullopt;
        reader_.reject_unknown_keys(*items, port_keys,
                                    "in a port of container '" + entry_.key + "'");
        PortMapping mapping;
        bool ok = true, has_target = false;
        for (const auto& item : *items) {
            const std::string item_path = key_path + "." + item.key;
            if (item.key == "target") {
                const auto target = reader_.parse(item.value, item_path, parse_port_range);
                if (target) std::tie(mapping.container_start, mapping.container_end) = *target;
                ok = ok && target;
                has_target = true;
            } else if (item.key == "published") {
                const auto published = reader_.parse(item.value, item_path, parse_port_range);
                if (published) std::tie(mapping.host_start, mapping.host_end) = *published;
                ok = ok && published;
            } else if (item.key == "host_ip") {
                const auto address = reader_.string(item.value, item_path);
                if (address) mapping.host_ip = *address;
                ok = ok && address;
            } else if (item.key == "protocol") {
                const auto protocol = reader_.string(item.value, item_path);
                if (protocol && (*protocol == "tcp" || *protocol == "udp")) {
                    mapping.protocol = *protocol == "tcp" ? Protocol::tcp : Protocol::udp;
                } else if (protocol) {
                    reader_.error(YamlReader::where(item.value),
                                  fmt::format("{}: unknown protocol '{}'; expected tcp or udp",
                                              item_path, *protocol));
                    ok = false;
                }
            } else if (item.key == "mode") {
                const auto mode = reader_.string(item.value, item_path);
                if (mode && *mode != "host" && *mode != "ingress") {
                    reader_.error(
                        YamlReader::where(item.value),
                        fmt::format("{}: unknown mode '{}'; expected host", item_path, *mode));
                    ok = false;
                }
            }
        }
        if (!has_target) {
            reader_.error(
                YamlReader::where(node),
                fmt::format("{}: a port needs 'target', the port in the container", key_path));
            return std::nullopt;
        }
        if (!ok) return std::nullopt;
        try {
            check_port_mapping(mapping, format_port_mapping(mapping));
        } catch (const InvalidValue& invalid) {
            reader_.error(YamlReader::where(node), key_path + ": " + invalid.message());
            return std::nullopt;
        }
        return mapping;
    }

    void read_volumes(const YAML::Node& value, const std::string& key_path) {
        if (!value.IsSequence()) {
            reader_.error(
                YamlReader::where(value),
                fmt::format("{}: expected a list such as [\"data:/var/lib/data\"], got {}",
                            key_path, YamlReader::kind_name(value)));
            return;
        }
        const char* home = std::getenv("HOME");
        const fs::path home_dir = home ? home : "/root";
        std::map<std::string, int> targets;
        for (const auto& item : value) {
            std::optional<VolumeMount> mount =
                item.IsMap() ? read_long_volume(item, key_path, home_dir)
                             : reader_.parse(item, key_path, [&](const std::string& spec) {
                                   return parse_volume_spec(spec, context_.project_dir, home_dir);
                               });
            if (!mount) continue;
            mount->where = YamlReader::where(item);
            if (const auto [it, inserted] = targets.emplace(mount->target, mount->where.line);
                !inserted) {
                reader_.error(mount->where,
                              fmt::format("{}: '{}' is already mounted at line {}; mount each "
                                          "path once",
                                          key_path, mount->target, it->second));
                continue;
            }
            container_.volumes.push_back(*mount);
        }
    }

    std::optional<VolumeMount> read_long_volume(const YAML::Node& node, const std::string& key_path,
                                                const fs::path& home_dir) {
        const auto items = reader_.entries(node, key_path);
        if (!items) return std::nullopt;
        reader_.reject_unknown_keys(*items, volume_keys,
                                    "in a volume of container '" + entry_.key + "'");
        std::optional<std::string> type, source, target;
        bool read_only = false;
        for (const auto& item : *items) {
            const std::string item_path = key_path + "." + item.key;
            if (item.key == "type")
                type = reader_.string(item.value, item_path);
            else if (item.key == "source")
                source = reader_.string(item.value, item_path);
            else if (item.key == "target")
                target = reader_.string(item.value, item_path);
            else if (item.key == "read_only")
                read_only = reader_.boolean(item.value, item_path).value_or(false);
        }
        if (!type || !target) {
            reader_.error(YamlReader::where(node),
                          fmt::format("{}: a volume needs 'type' (bind, volume or tmpfs) and "
                                      "'target'",
                                      key_path));
            return std::nullopt;
        }
        try {
            VolumeMount mount;
            if (*type == "tmpfs") {
                check_volume_target(*target);
                mount.type = VolumeType::tmpfs;
                mount.target = *target;
            } else if (*type == "bind" || *type == "volume") {
                if (*type == "bind" && (!source || source->empty()))
                    throw InvalidValue("a bind mount needs 'source', the path to mount");
                const std::string spec = source ? *source + ":" + *target : *target;
                mount = parse_volume_spec(spec, context_.project_dir, home_dir);
                const bool is_bind = mount.type == VolumeType::bind;
                if (is_bind != (*type == "bind"))
                    throw InvalidValue(fmt::format(
                        "type '{}' does not match source '{}'; a bind source is a path (/x, ./x), "
                        "a volume source is a name",
                        *type, source.value_or("")));
            } else {
                throw InvalidValue(
                    fmt::format("unknown volume type '{}'; expected bind, volume or tmpfs", *type));
            }
            mount.read_only = read_only;
            return mount;
        } catch (const InvalidValue& invalid) {
            reader_.error(YamlReader::where(node), key_path + ": " + invalid.message());
            return std::nullopt;
        }
    }

    void read_depends_on(const YAML::Node& value, const std::string& key_path) {
        if (value.IsSequence()) {
            for (const auto& item : value)
                if (auto name = reader_.string(item, key_path))
                    container_.depends_on.push_back(
                        {*name, DependencyCondition::started, YamlReader::where(item)});
            return;
        }
        const auto items = reader_.entries(value, key_path);
        if (!items) return;
        for (const auto& item : *items) {
            Dependency dependency{item.key, DependencyCondition::started, item.key_where};
            if (!item.value.IsNull()) {
                const auto options = reader_.entries(item.value, key_path + "." + item.key);
                if (!options) continue;
                reader_.reject_unknown_keys(*options, depends_on_keys,
                                            "in depends_on '" + item.key + "'");
                for (const auto& option : *options) {
                    if (option.key != "condition") continue;
                    const auto condition =
                        reader_.string(option.value, key_path + "." + item.key + ".condition");
                    if (!condition) continue;
                    if (*condition == "started" || *condition == "service_started")
                        dependency.condition = DependencyCondition::started;
                    else if (*condition == "healthy" || *condition == "service_healthy")
                        dependency.condition = DependencyCondition::healthy;
                    else if (*condition == "completed" ||
                             *condition == "service_completed_successfully")
                        dependency.condition = DependencyCondition::completed;
                    else
                        reader_.error(YamlReader::where(option.value),
                                      fmt::format("{}.{}.condition: unknown condition '{}'; "
                                                  "expected started, healthy or completed",
                                                  key_path, item.key, *condition));
                }
            }
            container_.depends_on.push_back(std::move(dependency));
        }
    }

    void read_healthcheck(const YAML::Node& value, const std::string& key_path) {
        const auto items = reader_.entries(value, key_path);
        if (!items) return;
        reader_.reject_unknown_keys(*items, healthcheck_keys,
                                    "in the healthcheck of container '" + entry_.key + "'");
        HealthCheck check;
        bool disabled = false, has_test = false;
        for (const auto& item : *items) {
            const std::string item_path = key_path + "." + item.key;
            if (item.key == "test") {
                has_test = true;
                read_health_test(item, item_path, check, disabled);
            } else if (item.key == "disable") {
                disabled = disabled || reader_.boolean(item.value, item_path).value_or(false);
            } else if (item.key == "retries") {
                if (auto retries = reader_.parse(item.value, item_path, [](const std::string& t) {
                        return parse_integer(t, 0, 1000);
                    }))
                    check.retries = static_cast<int>(*retries);
            } else {
                auto duration = reader_.parse(item.value, item_path, parse_duration);
                if (!duration) continue;
                if (*duration <= Duration(0) && item.key != "start_period") {
                    reader_.error(YamlReader::where(item.value),
                                  fmt::format("{}: must be longer than 0, such as 2s", item_path));
                    continue;
                }
                (item.key == "interval"         ? check.interval
                 : item.key == "timeout"        ? check.timeout
                 : item.key == "start_interval" ? check.start_interval
                                                : check.start_period) = *duration;
            }
        }
        if (disabled) return;
        if (!has_test) {
            reader_.error(YamlReader::where(value),
                          fmt::format("{}: 'test' is missing; for example test: [\"CMD\", "
                                      "\"wget\", \"-qO-\", \"http://localhost/\"]",
                                      key_path));
            return;
        }
        if (!check.test.empty()) container_.healthcheck = std::move(check);
    }

    void read_health_test(const MapEntry& item, const std::string& item_path, HealthCheck& check,
                          bool& disabled) {
        if (item.value.IsScalar()) {
            if (auto command = reader_.string(item.value, item_path))
                check.test = {"CMD-SHELL", *command};
            return;
        }
        auto test = reader_.string_list(item.value, item_path, false);
        if (!test) return;
        const std::string kind = test->empty() ? "" : test->front();
        if (kind == "NONE") {
            disabled = true;
        } else if ((kind == "CMD" && test->size() >= 2) ||
                   (kind == "CMD-SHELL" && test->size() == 2)) {
            check.test = std::move(*test);
        } else {
            reader_.error(YamlReader::where(item.value),
                          fmt::format("{}: expected [\"CMD\", program, args...], [\"CMD-SHELL\", "
                                      "\"command\"] or [\"NONE\"]",
                                      item_path));
        }
    }

    void read_restart(const YAML::Node& value, const std::string& key_path) {
        const auto text = reader_.string(value, key_path);
        if (!text) return;
        RestartPolicy policy;
        if (*text == "no" || *text == "false")
            policy.kind = RestartKind::no;
        else if (*text == "always")
            policy.kind = RestartKind::always;
        else if (*text == "unless-stopped")
            policy.kind = RestartKind::unless_stopped;
        else if (*text == "on-failure" || text->starts_with("on-failure:")) {
            policy.kind = RestartKind::on_failure;
            if (text->size() > 11) {
                try {
                    policy.max_retries =
                        static_cast<int>(parse_integer(text->substr(11), 1, 1000000));
                } catch (const InvalidValue&) {
                    reader_.error(YamlReader::where(value),
                                  fmt::format("{}: '{}' needs a positive retry count, such as "
                                              "on-failure:3",
                                              key_path, *text));
                    return;
                }
            }
        } else {
            reader_.error(YamlReader::where(value),
                          fmt::format("{}: unknown policy '{}'; expected no, always, "
                                      "on-failure[:N] or unless-stopped",
                                      key_path, *text));
            return;
        }
        container_.restart = policy;
    }

    LoadContext& context_;
    YamlReader& reader_;
    const MapEntry& entry_;
    std::string owner_;
    Container container_;
    std::map<std::string, std::string> explicit_environment_;
};

} // namespace

std::optional<Container> read_container(LoadContext& context, const MapEntry& entry) {
    return ContainerReader(context, entry).read();
}

} // namespace lcloud::project

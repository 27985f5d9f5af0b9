#include "project/loader.hpp"

#include "common/error.hpp"
#include "project/dotenv.hpp"
#include "project/loader_internal.hpp"
#include "state/atomic_file.hpp"

#include <cstdlib>
#include <fmt/format.h>

namespace lcloud::project {

namespace fs = std::filesystem;

namespace {

const std::vector<std::string_view> top_level_keys = {"version", "name",           "provider",
                                                      "vm",      "shared_folders", "containers"};
const std::vector<std::string_view> vm_keys = {"box",    "cpus", "memory",      "disk",
                                               "driver", "uri",  "boot_timeout"};
const std::vector<std::string_view> folder_keys = {"host", "guest", "readonly",
                                                   "allow_outside_project"};

// Keys that people paste from Compose, with what lcloud says instead.
std::optional<std::string> compose_hint(std::string_view key) {
    if (key == "services")
        return "lcloud calls Compose's 'services' 'containers'; rename the key to 'containers'";
    if (key == "networks")
        return "the containers of an environment share one network and find each other by name; "
               "remove 'networks'";
    if (key == "volumes")
        return "named volumes need no declaration in lcloud; use them in a container's "
               "'volumes' and remove this key";
    return std::nullopt;
}

bool indented_with_tab(std::string_view text, int line_index) {
    const auto lines = split(text, '\n');
    for (int index : {line_index, line_index - 1}) {
        if (index < 0 || index >= static_cast<int>(lines.size())) continue;
        const auto& line = lines[static_cast<size_t>(index)];
        const auto indent = line.substr(0, line.find_first_not_of(" \t"));
        if (indent.find('\t') != std::string::npos) return true;
    }
    return false;
}

bool is_within(const fs::path& path, const fs::path& dir) {
    const auto relative = path.lexically_relative(dir);
    return !relative.empty() && *relative.begin() != "..";
}

void read_vm(YamlReader& reader, const MapEntry& entry, Vm& vm) {
    const auto items = reader.entries(entry.value, "vm");
    if (!items) return;
    reader.reject_unknown_keys(*items, vm_keys, "under 'vm'");
    for (const auto& item : *items) {
        const std::string path = "vm." + item.key;
        if (item.key == "box") {
            if (auto box = reader.string(item.value, path)) vm.box = *box;
        } else if (item.key == "cpus") {
            if (auto cpus = reader.parse(item.value, path, parse_vcpu_count)) vm.cpus = *cpus;
        } else if (item.key == "memory" || item.key == "disk") {
            const uint64_t minimum = item.key == "memory" ? 128 * MiB : 1 * GiB;
            auto size = reader.parse(item.value, path, parse_size);
            if (size && *size < minimum)
                reader.error(YamlReader::where(item),
                             fmt::format("{}: {} is too small; the VM needs at least {}", path,
                                         format_size(*size), format_size(minimum)));
            else if (size)
                (item.key == "memory" ? vm.memory_bytes : vm.disk_bytes) = *size;
        } else if (item.key == "driver") {
            auto driver = reader.string(item.value, path);
            if (!driver) continue;
            if (*driver == "auto")
                vm.driver = VmDriver::automatic;
            else if (*driver == "kvm")
                vm.driver = VmDriver::kvm;
            else if (*driver == "qemu")
                vm.driver = VmDriver::qemu;
            else
                reader.error(YamlReader::where(item),
                             fmt::format("vm.driver: unknown driver '{}'; expected auto, kvm or "
                                         "qemu",
                                         *driver));
        } else if (item.key == "uri") {
            if (auto uri = reader.string(item.value, path)) vm.uri = *uri;
        } else if (item.key == "boot_timeout") {
            if (auto timeout = reader.parse(item.value, path, parse_duration))
                vm.boot_timeout = *timeout;
        }
    }
}

void read_shared_folders(YamlReader& reader, const MapEntry& entry, const fs::path& project_dir,
                         std::vector<SharedFolder>& folders) {
    if (!entry.value.IsSequence()) {
        reader.error(YamlReader::where(entry),
                     fmt::format("shared_folders: expected a list of folders (- host: ./src, "
                                 "guest: /lcloud/src), got {}",
                                 YamlReader::kind_name(entry.value)));
        return;
    }
    std::map<std::string, int> guests;
    for (const auto& node : entry.value) {
        const auto items = reader.entries(node, "shared_folders item");
        if (!items) continue;
        reader.reject_unknown_keys(*items, folder_keys, "in a shared folder");
        SharedFolder folder;
        folder.where = YamlReader::where(node);
        std::optional<std::string> host, guest;
        for (const auto& item : *items) {
            const std::string path = "shared_folders." + item.key;
            if (item.key == "host")
                host = reader.string(item.value, path);
            else if (item.key == "guest")
                guest = reader.string(item.value, path);
            else if (item.key == "readonly")
                folder.readonly = reader.boolean(item.value, path).value_or(false);
            else if (item.key == "allow_outside_project")
                folder.allow_outside_project = reader.boolean(item.value, path).value_or(false);
        }
        if (!host || !guest) {
            if (!host && !guest) {
                reader.error(folder.where, "a shared folder needs 'host' (a folder of the project, "
                                           "such as ./src) and 'guest' (a path in the VM)");
            } else if (!host) {
                reader.error(folder.where, "a shared folder needs 'host': the folder of the "
                                           "project to share, such as ./src");
            } else {
                reader.error(folder.where, "a shared folder needs 'guest': the absolute path in "
                                           "the VM, such as /lcloud/src");
            }
            continue;
        }
        if (guest->empty() || guest->front() != '/' || *guest == "/") {
            reader.error(folder.where,
                         fmt::format("shared_folders.guest: '{}' must be an absolute path in the "
                                     "VM below /, such as /lcloud/src",
                                     *guest));
            continue;
        }
        if (const auto [it, inserted] = guests.emplace(*guest, folder.where.line); !inserted) {
            reader.error(folder.where, fmt::format("shared_folders: guest path '{}' is already "
                                                   "used by the folder at line {}",
                                                   *guest, it->second));
            continue;
        }
        folder.guest = fs::path(*guest).lexically_normal().string();
        std::error_code ignored;
        // Symlinks resolved: a link inside the project that points out of it is outside.
        folder.host = fs::weakly_canonical(project_dir / *host, ignored);
        if (folder.host.empty()) folder.host = (project_dir / *host).lexically_normal();
        const fs::path canonical_project = fs::weakly_canonical(project_dir, ignored);
        if (!fs::is_directory(folder.host)) {
            reader.error(folder.where, fmt::format("shared folder '{}' is not a directory of the "
                                                   "project; create it or fix 'host'",
                                                   *host));
            continue;
        }
        if (folder.host != canonical_project && !is_within(folder.host, canonical_project)) {
            const auto leads_to = folder.host.lexically_relative(canonical_project).string();
            if (!folder.allow_outside_project) {
                reader.error(folder.where,
                             fmt::format("shared folder '{}' leads to '{}', outside the project "
                                         "directory; add 'allow_outside_project: true' to share "
                                         "it anyway",
                                         *host, leads_to));
                continue;
            }
            folder.outside_project = true;
            reader.diagnostics().warning(
                folder.where, fmt::format("shared folder '{}' leads to '{}', outside the project "
                                          "directory (allowed by allow_outside_project)",
                                          *host, leads_to));
        }
        folders.push_back(std::move(folder));
    }
}

} // namespace

bool is_dns_label(std::string_view name) {
    if (name.empty() || name.size() > 63 || name.front() == '-' || name.back() == '-') return false;
    return std::all_of(name.begin(), name.end(), [](char c) {
        return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-';
    });
}

std::string to_dns_label(std::string_view name) {
    std::string label;
    for (const char c : to_lower(name)) {
        const bool valid = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
        if (valid)
            label += c;
        else if (!label.empty() && label.back() != '-')
            label += '-';
    }
    while (!label.empty() && label.back() == '-')
        label.pop_back();
    if (label.size() > 63) label.resize(63);
    while (!label.empty() && label.back() == '-')
        label.pop_back();
    return label;
}

std::string dns_label_problem(std::string_view name) {
    if (name.size() > 63) return fmt::format("'{}' is longer than 63 characters", name);
    const std::string fixed = to_dns_label(name);
    return fmt::format("'{}' is not a DNS label: use lowercase letters, digits and '-', not at "
                       "the start or end{}",
                       name, fixed.empty() ? "" : fmt::format(", for example '{}'", fixed));
}

VariableLookup process_environment() {
    return [](std::string_view name) -> std::optional<std::string> {
        if (const char* value = std::getenv(std::string(name).c_str())) return std::string(value);
        return std::nullopt;
    };
}

Project parse_project(std::string_view text, const fs::path& file, const VariableLookup& variables,
                      Diagnostics& diagnostics) {
    Project project;
    project.file = file;
    project.dir = file.parent_path();
    project.name = to_dns_label(project.dir.filename().string());
    if (project.name.empty()) project.name = "lcloud";

    YAML::Node root;
    try {
        root = YAML::Load(std::string(text));
    } catch (const YAML::Exception& exception) {
        diagnostics.error({exception.mark.line + 1, exception.mark.column + 1},
                          fmt::format("YAML syntax error: {}{}", exception.msg,
                                      indented_with_tab(text, exception.mark.line)
                                          ? " (a tab indents this line; YAML indents with spaces)"
                                          : ""));
        return project;
    }
    if (root.IsNull()) {
        diagnostics.error({1, 1}, "the project file is empty; it needs at least 'containers', "
                                  "see 'lcloud init'");
        return project;
    }

    YamlReader reader(diagnostics, variables);
    const auto items = reader.entries(root, "the project file");
    if (!items) return project;
    bool unknown_top_level = false; // then a missing 'containers' is most likely misspelt
    for (const auto& item : *items) {
        if (std::find(top_level_keys.begin(), top_level_keys.end(), item.key) !=
                top_level_keys.end() ||
            item.key.starts_with("x-"))
            continue;
        unknown_top_level = true;
        if (const auto hint = compose_hint(item.key))
            reader.error(item.key_where,
                         fmt::format("unknown key '{}' at the top level; {}", item.key, *hint));
        else
            reader.reject_unknown_keys({item}, top_level_keys, "at the top level");
    }

    std::vector<const MapEntry*> container_entries;
    const MapEntry* containers_entry = nullptr;
    for (const auto& item : *items) {
        if (item.key == "version") {
            const auto version = reader.string(item.value, "version");
            if (version && *version != "1")
                reader.error(YamlReader::where(item),
                             fmt::format("version: this lcloud reads project files of version 1, "
                                         "not '{}'; write 'version: 1' or remove the key",
                                         *version));
        } else if (item.key == "name") {
            const auto name = reader.string(item.value, "name");
            if (name && is_dns_label(*name))
                project.name = *name;
            else if (name)
                reader.error(YamlReader::where(item),
                             fmt::format("name: {}", dns_label_problem(*name)));
        } else if (item.key == "provider") {
            const auto provider = reader.string(item.value, "provider");
            if (provider && *provider == "libvirt")
                project.provider = Provider::libvirt;
            else if (provider && *provider == "local")
                project.provider = Provider::local;
            else if (provider)
                reader.error(YamlReader::where(item),
                             fmt::format("provider: unknown provider '{}'; expected libvirt (a VM) "
                                         "or local (containers on this Linux host)",
                                         *provider));
        } else if (item.key == "vm") {
            read_vm(reader, item, project.vm);
            project.vm_given = true;
        } else if (item.key == "shared_folders") {
            read_shared_folders(reader, item, project.dir, project.shared_folders);
        } else if (item.key == "containers") {
            containers_entry = &item;
        }
    }

    if (!containers_entry) {
        if (!unknown_top_level)
            diagnostics.error({1, 1}, "the project file has no 'containers'; add at least one, "
                                      "such as 'containers: {web: {image: busybox}}'");
        return project;
    }
    const auto containers = reader.entries(containers_entry->value, "containers");
    if (!containers) return project;
    // `containers: {}` on purpose is an environment of the VM alone (ssh, shared folders), as a
    // Vagrantfile is; a missing key is more likely a slip, and is an error above.
    LoadContext context{reader, project.dir, variables, project.name};
    for (const auto& entry : *containers) {
        if (auto container = read_container(context, entry))
            project.containers.push_back(std::move(*container));
    }
    validate_containers(project, reader);
    return project;
}

Project load_project(const fs::path& file, const LoadOptions& options,
                     std::vector<Diagnostic>* warnings) {
    const fs::path absolute = fs::absolute(file).lexically_normal();
    const std::string display =
        options.display_name.empty() ? absolute.filename().string() : options.display_name;
    const auto text = state::read_file(absolute);
    if (!text)
        throw Error(fmt::format("{}: no such file; run 'lcloud init' to write one", display));

    Diagnostics diagnostics(display);
    std::map<std::string, std::string> dotenv;
    const fs::path dotenv_path = absolute.parent_path() / ".env";
    if (const auto dotenv_text = state::read_file(dotenv_path)) {
        try {
            dotenv = parse_dotenv(*dotenv_text);
        } catch (const InvalidValue& invalid) {
            throw Error(fmt::format("{}: {}", dotenv_path.string(), invalid.message()));
        }
    }
    const VariableLookup environment =
        options.environment ? options.environment : process_environment();
    const VariableLookup variables = [&](std::string_view name) -> std::optional<std::string> {
        if (auto value = environment(name)) return value;
        if (const auto it = dotenv.find(std::string(name)); it != dotenv.end()) return it->second;
        return std::nullopt;
    };
    Project project = parse_project(*text, absolute, variables, diagnostics);
    auto sorted = diagnostics.sorted();
    if (diagnostics.has_errors()) throw ProjectError(std::move(sorted));
    if (warnings) *warnings = std::move(sorted);
    return project;
}

} // namespace lcloud::project

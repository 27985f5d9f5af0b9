#include "runtime/container/state.hpp"

#include "common/error.hpp"
#include "state/atomic_file.hpp"

#include <cerrno>
#include <fmt/format.h>
#include <nlohmann/json.hpp>
#include <signal.h>
#include <sys/stat.h>

namespace lcloud::runtime {

namespace fs = std::filesystem;

std::string_view to_string(Status status) {
    switch (status) {
    case Status::creating:
        return "creating";
    case Status::created:
        return "created";
    case Status::running:
        return "running";
    default:
        return "stopped";
    }
}

unsigned long long process_start_time(pid_t pid) {
    const auto stat = state::read_file(fmt::format("/proc/{}/stat", pid));
    if (!stat) return 0;
    // The command name may hold spaces and parentheses; fields resume after the last ')'.
    const size_t close = stat->rfind(')');
    if (close == std::string::npos) return 0;
    size_t position = close + 2;
    for (int field = 3; field < 22 && position < stat->size(); ++field)
        position = stat->find(' ', position) + 1;
    return std::strtoull(stat->c_str() + position, nullptr, 10);
}

void check_container_id(const std::string& id) {
    const bool valid = !id.empty() && id.size() <= 1024 && id.front() != '.' &&
                       std::all_of(id.begin(), id.end(), [](unsigned char c) {
                           return std::isalnum(c) || c == '_' || c == '-' || c == '.';
                       });
    if (!valid)
        throw UsageError(fmt::format("invalid container id '{}': use letters, digits, '_', '-' "
                                     "and '.', not starting with '.'",
                                     id));
}

StateStore::StateStore(fs::path root) : root_(std::move(root)) {}

void StateStore::create_dir(const std::string& id) const {
    check_container_id(id);
    std::error_code error;
    fs::create_directories(root_, error);
    if (error) throw SystemError("create runtime root", root_.string(), error.value());
    if (::mkdir(dir(id).c_str(), 0700) != 0) {
        if (errno == EEXIST) throw Error(fmt::format("container {} already exists", id));
        throw_errno("create state directory", dir(id).string());
    }
}

void StateStore::save(const ContainerState& state) const {
    const nlohmann::json json = {{"id", state.id},
                                 {"pid", state.pid},
                                 {"pid_start_time", state.pid_start_time},
                                 {"bundle", state.bundle.string()},
                                 {"created", state.created},
                                 {"annotations", state.annotations},
                                 {"cgroup_paths", state.cgroup_paths},
                                 {"oci_version", state.oci_version}};
    state::write_file_atomic(dir(state.id) / "state.json", json.dump(), 0600,
                             state::Durability::killed_writer);
}

bool StateStore::exists(const std::string& id) const {
    return fs::exists(dir(id) / "state.json");
}

ContainerState StateStore::load(const std::string& id) const {
    check_container_id(id);
    const auto text = state::read_file(dir(id) / "state.json");
    if (!text) throw Error(fmt::format("container {} does not exist", id));
    try {
        const auto json = nlohmann::json::parse(*text);
        ContainerState state;
        state.id = json.at("id").get<std::string>();
        state.pid = json.at("pid").get<pid_t>();
        state.pid_start_time = json.at("pid_start_time").get<unsigned long long>();
        state.bundle = json.at("bundle").get<std::string>();
        state.created = json.at("created").get<std::string>();
        state.annotations = json.at("annotations").get<std::map<std::string, std::string>>();
        state.cgroup_paths = json.at("cgroup_paths").get<std::vector<std::string>>();
        state.oci_version = json.at("oci_version").get<std::string>();
        return state;
    } catch (const nlohmann::json::exception& error) {
        throw Error(fmt::format("the state of container {} in {} is damaged ({}); remove it with "
                                "'delete --force {}'",
                                id, dir(id).string(), error.what(), id));
    }
}

void StateStore::remove(const std::string& id) const {
    std::error_code error;
    fs::remove_all(dir(id), error);
    if (error) throw SystemError("remove state directory", dir(id).string(), error.value());
}

std::vector<std::string> StateStore::ids() const {
    std::vector<std::string> ids;
    std::error_code error;
    for (const auto& entry : fs::directory_iterator(root_, error))
        if (fs::exists(entry.path() / "state.json")) ids.push_back(entry.path().filename());
    std::sort(ids.begin(), ids.end());
    return ids;
}

Status StateStore::status(const ContainerState& state) const {
    if (state.pid <= 0) return Status::creating;
    if (process_start_time(state.pid) != state.pid_start_time) return Status::stopped;
    // A zombie has exited; only its parent has not collected it yet.
    const auto stat = state::read_file(fmt::format("/proc/{}/stat", state.pid));
    if (stat) {
        const size_t close = stat->rfind(')');
        if (close != std::string::npos && close + 2 < stat->size() && (*stat)[close + 2] == 'Z')
            return Status::stopped;
    }
    return fs::exists(exec_fifo(state.id)) ? Status::created : Status::running;
}

std::string StateStore::state_json(const ContainerState& state) const {
    const Status current = status(state);
    nlohmann::ordered_json json = {
        {"ociVersion", state.oci_version}, {"id", state.id},
        {"status", to_string(current)},    {"pid", current == Status::stopped ? 0 : state.pid},
        {"bundle", state.bundle.string()}, {"created", state.created},
        {"annotations", state.annotations}};
    return json.dump(2);
}

} // namespace lcloud::runtime

#pragma once

#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <sys/types.h>
#include <vector>

namespace lcloud::runtime {

enum class Status { creating, created, running, stopped };
std::string_view to_string(Status status);

// What the runtime remembers of one container between commands, in ROOT/ID/state.json.
struct ContainerState {
    std::string id;
    pid_t pid = 0;
    unsigned long long pid_start_time = 0; // guards against a recycled pid
    std::filesystem::path bundle;
    std::string created; // RFC 3339
    std::map<std::string, std::string> annotations;
    std::vector<std::string> cgroup_paths;
    std::string oci_version;
};

// The start time of a process in clock ticks since boot (field 22 of /proc/PID/stat); 0 when
// the process does not exist.
unsigned long long process_start_time(pid_t pid);

// The container directories under the runtime's --root.
class StateStore {
  public:
    explicit StateStore(std::filesystem::path root);

    const std::filesystem::path& root() const { return root_; }
    std::filesystem::path dir(const std::string& id) const { return root_ / id; }
    std::filesystem::path exec_fifo(const std::string& id) const { return dir(id) / "exec.fifo"; }

    // Creates ROOT/ID exclusively; throws when the id is taken.
    void create_dir(const std::string& id) const;
    void save(const ContainerState& state) const;
    // Throws "container ID does not exist" when there is none.
    ContainerState load(const std::string& id) const;
    bool exists(const std::string& id) const;
    void remove(const std::string& id) const;
    std::vector<std::string> ids() const;

    Status status(const ContainerState& state) const;
    // The OCI state JSON of the runtime spec.
    std::string state_json(const ContainerState& state) const;

  private:
    std::filesystem::path root_;
};

// Container ids: letters, digits, '_', '-', '.', not starting with '.' (they name directories).
void check_container_id(const std::string& id);

} // namespace lcloud::runtime

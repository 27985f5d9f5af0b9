#pragma once

#include "common/units.hpp"

#include <cstdint>
#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace lcloud::project {

// 1-based, as editors show them.
struct SourceLocation {
    int line = 0;
    int column = 0;
};

enum class Provider { libvirt, local };
enum class VmDriver { automatic, kvm, qemu };

struct Vm {
    std::string box = "lcloud/base";
    int cpus = 2;
    uint64_t memory_bytes = 2 * GiB;
    uint64_t disk_bytes = 20 * GiB;
    VmDriver driver = VmDriver::automatic;
    std::string uri = "qemu:///system";
    // How long `up` waits for the guest; zero means the driver's default (180 s under TCG, 60 s
    // under KVM).
    Duration boot_timeout{0};
};

struct SharedFolder {
    std::filesystem::path host; // absolute
    std::string guest;
    bool readonly = false;
    bool allow_outside_project = false;
    bool outside_project = false; // true only when allowed explicitly
    SourceLocation where;
};

enum class Protocol { tcp, udp };

// Ports [host_start, host_end] -> [container_start, container_end]; host_start 0 means any free
// host port.
struct PortMapping {
    std::string host_ip = "127.0.0.1";
    uint16_t host_start = 0;
    uint16_t host_end = 0;
    uint16_t container_start = 0;
    uint16_t container_end = 0;
    Protocol protocol = Protocol::tcp;
    SourceLocation where;
};

enum class VolumeType { bind, volume, tmpfs };

struct VolumeMount {
    VolumeType type = VolumeType::volume;
    std::string source; // absolute path for bind, name for volume (empty: anonymous)
    std::string target;
    bool read_only = false;
    SourceLocation where;
};

enum class DependencyCondition { started, healthy, completed };

struct Dependency {
    std::string name;
    DependencyCondition condition = DependencyCondition::started;
    SourceLocation where;
};

struct HealthCheck {
    std::vector<std::string> test; // ["CMD", args...] or ["CMD-SHELL", command]
    Duration interval = std::chrono::seconds(30);
    Duration timeout = std::chrono::seconds(30);
    Duration start_period = Duration(0);
    Duration start_interval = Duration(0); // 0: checks keep `interval` in the start period
    int retries = 3;
};

enum class RestartKind { no, always, on_failure, unless_stopped };

struct RestartPolicy {
    RestartKind kind = RestartKind::no;
    int max_retries = 0; // on-failure:N; 0 means unlimited
};

struct BuildSpec {
    std::filesystem::path context; // absolute
    std::string dockerfile;        // relative to context
    std::map<std::string, std::string> args;
};

struct Container {
    std::string name;
    std::string image;
    std::optional<BuildSpec> build;
    std::optional<std::vector<std::string>> command;
    std::optional<std::vector<std::string>> entrypoint;
    std::string working_dir;
    std::string user;
    std::string hostname;
    std::map<std::string, std::string> labels;
    std::map<std::string, std::string> environment; // env_file entries merged in
    std::vector<std::filesystem::path> env_files;
    std::vector<PortMapping> ports;
    std::vector<VolumeMount> volumes;
    std::vector<Dependency> depends_on;
    std::optional<HealthCheck> healthcheck;
    RestartPolicy restart;
    int replicas = 1;
    std::optional<uint64_t> memory_bytes;
    std::optional<double> cpus;
    Duration stop_grace_period = std::chrono::seconds(10);
    SourceLocation where;
};

struct Project {
    std::filesystem::path file; // absolute path of lcloud.yaml
    std::filesystem::path dir;  // its directory
    std::string name;
    Provider provider = Provider::libvirt;
    Vm vm;
    bool vm_given = false; // the file has a vm section (which provider local ignores)
    std::vector<SharedFolder> shared_folders;
    std::vector<Container> containers; // in file order

    const Container* find_container(std::string_view container_name) const;
};

std::string_view to_string(Provider provider);
std::string_view to_string(VmDriver driver);
std::string_view to_string(Protocol protocol);
std::string_view to_string(VolumeType type);
std::string_view to_string(DependencyCondition condition);
std::string to_string(const RestartPolicy& restart);

} // namespace lcloud::project

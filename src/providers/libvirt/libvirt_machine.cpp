#include "providers/libvirt/libvirt_machine.hpp"

#include "box/box_build.hpp"
#include "box/errors.hpp"
#include "box/guest_init.hpp"
#include "providers/libvirt/agent_disk.hpp"
#include "providers/libvirt/boot_checkpoint.hpp"
#include "providers/libvirt/connection.hpp"
#include "providers/libvirt/console_watch.hpp"
#include "providers/libvirt/domain_xml.hpp"
#include "providers/libvirt/errors.hpp"
#include "providers/libvirt/guest_network.hpp"
#include "providers/libvirt/image_cache.hpp"
#include "providers/libvirt/storage.hpp"
#include "providers/libvirt/xml.hpp"
#include "providers/ssh_target.hpp"
#include "runtime/image/sha256.hpp"
#include "ssh/keys.hpp"
#include "ssh/known_hosts.hpp"
#include "ssh/session.hpp"
#include "state/atomic_file.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <fmt/format.h>
#include <fstream>
#include <future>
#include <netinet/in.h>
#include <spdlog/spdlog.h>
#include <sys/socket.h>
#include <thread>
#include <unistd.h>

namespace lcloud::providers::libvirt {

namespace fs = std::filesystem;
using namespace std::chrono_literals;

std::string domain_name_for(const std::string& project_name, const fs::path& project_dir) {
    std::string name;
    for (const char c : project_name)
        name += std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_' ? c : '-';
    const auto digest = runtime::image::sha256_digest(project_dir.lexically_normal().string());
    return fmt::format("lcloud-{}-{}", name, digest.substr(7, 8));
}

namespace {

std::string percent_escape(const std::string& text) {
    std::string out;
    for (const unsigned char c : text)
        out += std::isalnum(c) || c == '/' || c == '.' || c == '_' || c == '-'
                   ? std::string(1, static_cast<char>(c))
                   : fmt::format("%{:02X}", c);
    return out;
}

bool hardware_virtualization() {
    const int fd = ::open("/dev/kvm", O_RDWR | O_CLOEXEC);
    if (fd < 0) return false;
    ::close(fd);
    std::ifstream cpuinfo("/proc/cpuinfo");
    for (std::string line; std::getline(cpuinfo, line);)
        if (line.starts_with("flags"))
            return line.find(" vmx") != std::string::npos || line.find(" svm") != std::string::npos;
    return false;
}

bool port_open(const std::string& host, uint16_t port) {
    const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) return false;
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_port = htons(port);
    ::inet_pton(AF_INET, host.c_str(), &address.sin_addr);
    const bool open = ::connect(fd, reinterpret_cast<sockaddr*>(&address), sizeof address) == 0;
    ::close(fd);
    return open;
}

} // namespace

LibvirtMachine::LibvirtMachine(MachineConfig config)
    : config_(std::move(config)),
      domain_name_(domain_name_for(config_.project_name, config_.project_dir)),
      mac_(mac_for(domain_name_)) {}

virConnectPtr LibvirtMachine::connection() {
    if (!connection_) connection_ = connect(config_.vm.uri);
    return connection_.get();
}

DomainHandle LibvirtMachine::lookup() {
    return DomainHandle(virDomainLookupByName(connection(), domain_name_.c_str()));
}

DomainHandle LibvirtMachine::require(const std::string& action) {
    auto domain = lookup();
    if (!domain)
        throw LibvirtError(fmt::format("cannot {}: the VM {} does not exist; run 'lcloud up'",
                                       action, domain_name_));
    return domain;
}

MachineState LibvirtMachine::state_of(virDomainPtr domain) {
    int state = 0;
    int reason = 0;
    if (virDomainGetState(domain, &state, &reason, 0) != 0)
        throw_libvirt(fmt::format("reading the state of {}", domain_name_));
    switch (state) {
    case VIR_DOMAIN_RUNNING:
    case VIR_DOMAIN_BLOCKED:
        return MachineState::running;
    case VIR_DOMAIN_PAUSED:
    case VIR_DOMAIN_PMSUSPENDED:
        return MachineState::paused;
    case VIR_DOMAIN_SHUTOFF:
        return virDomainHasManagedSaveImage(domain, 0) == 1 ? MachineState::saved
                                                            : MachineState::shut_off;
    case VIR_DOMAIN_CRASHED:
        return MachineState::crashed;
    default:
        return MachineState::other;
    }
}

bool LibvirtMachine::still_starting(virDomainPtr domain) {
    int state = 0;
    int reason = 0;
    if (virDomainGetState(domain, &state, &reason, 0) != 0)
        throw_libvirt(fmt::format("reading the state of {}", domain_name_));
    // Restoring a saved state is an incoming migration until it runs.
    return state == VIR_DOMAIN_PAUSED &&
           (reason == VIR_DOMAIN_PAUSED_STARTING_UP || reason == VIR_DOMAIN_PAUSED_MIGRATION);
}

void LibvirtMachine::wait_for_jobs(virDomainPtr domain) {
    const auto deadline = std::chrono::steady_clock::now() + boot_timeout();
    for (;;) {
        virDomainJobInfo job{};
        if (virDomainGetJobInfo(domain, &job) != 0 || job.type == VIR_DOMAIN_JOB_NONE) return;
        if (std::chrono::steady_clock::now() > deadline)
            throw LibvirtError(fmt::format("{} is still busy with a libvirt job (a save, say) "
                                           "after {} s",
                                           domain_name_, boot_timeout().count() / 1000));
        std::this_thread::sleep_for(50ms);
    }
}

void LibvirtMachine::wait_while_starting(virDomainPtr domain) {
    const auto deadline = std::chrono::steady_clock::now() + boot_timeout();
    while (still_starting(domain)) {
        if (std::chrono::steady_clock::now() > deadline)
            throw LibvirtError(fmt::format("{} stayed in libvirt's 'starting up' state for {} s",
                                           domain_name_, boot_timeout().count() / 1000));
        std::this_thread::sleep_for(20ms);
    }
}

std::string LibvirtMachine::guest_address() {
    const auto reserved = reserve_address(connection(), network_name, mac_, domain_name_).ip;
    return reserved.substr(0, reserved.find('/'));
}

MachineStatus LibvirtMachine::status() {
    MachineStatus status;
    status.name = domain_name_;
    auto domain = lookup();
    if (!domain) return status;
    status.state = state_of(domain.get());
    const auto record = machine_record();
    status.address = record.value("address", "");
    status.driver = record.value("driver", "");
    status.box = record.value("box", "");
    return status;
}

nlohmann::json LibvirtMachine::machine_record() const {
    const auto saved = state::read_file(config_.state_dir / "machine.json");
    auto json = saved ? nlohmann::json::parse(*saved, nullptr, false) : nlohmann::json::object();
    return json.is_object() ? json : nlohmann::json::object();
}

std::chrono::milliseconds LibvirtMachine::boot_timeout() const {
    if (config_.vm.boot_timeout.count() > 0) return config_.vm.boot_timeout;
    return driver_ == "kvm" ? 60s : 180s;
}

std::string LibvirtMachine::choose_driver(Progress progress) {
    switch (config_.vm.driver) {
    case project::VmDriver::kvm:
        return "kvm";
    case project::VmDriver::qemu:
        return "qemu";
    case project::VmDriver::automatic:
        break;
    }
    if (hardware_virtualization()) return "kvm";
    progress("warning: no usable hardware virtualization (/dev/kvm with vmx or svm in "
             "/proc/cpuinfo), so the VM runs under TCG emulation and is several times slower; "
             "set vm.driver: kvm to force KVM");
    return "qemu";
}

void LibvirtMachine::up(const Progress& progress) {
    if (driver_.empty()) driver_ = choose_driver(progress);
    auto domain = lookup();
    if (!domain) return create_and_boot(progress);
    // A killed `up` may have left libvirtd saving the boot checkpoint: let it finish first.
    wait_for_jobs(domain.get());
    // A VM that runs (or was saved) keeps the agent it booted with. Swapping it under running
    // containers is no job for `up`, which must restart nothing that did not change: it says
    // so, and `reload` boots with this lcloud's agent.
    if (const auto state = state_of(domain.get());
        state == MachineState::running || state == MachineState::saved)
        if (const auto warning = running_agent_warning(machine_record(), config_.agent_binary))
            progress(*warning);
    switch (state_of(domain.get())) {
    case MachineState::running:
        // A killed `up` may have left it booting: finish the wait. A VM restored from a save
        // (resume, a snapshot) has a new console log without the report, and answers SSH.
        if (const auto report = ready_report(console_log())) {
            // A killed `up` may have seen the report and died before it pinned the host key.
            pin_host_key(*report);
            wait_for_ssh(boot_timeout());
        } else if (port_open(guest_address(), 22)) {
            wait_for_ssh(boot_timeout());
        } else {
            wait_until_ready(progress);
        }
        return;
    case MachineState::paused:
        // A killed `up` leaves libvirtd starting the domain, paused until QEMU is set up;
        // resuming it then races libvirtd's own resume.
        if (!still_starting(domain.get()) && virDomainResume(domain.get()) != 0) {
            const auto why = last_libvirt_error();
            if (state_of(domain.get()) != MachineState::running)
                throw_libvirt("resuming " + domain_name_, why);
        }
        wait_while_starting(domain.get());
        return up(progress);
    case MachineState::saved:
        return resume(progress);
    default:
        return create_and_boot(progress);
    }
}

void LibvirtMachine::create_and_boot(const Progress& progress) {
    auto box = box::find_box(config_.vm.box);
    if (!box) {
        if (config_.vm.box != box::default_box)
            throw box::BoxError(fmt::format("the box {} is not on this host; add it with 'lcloud "
                                            "box add FILE' or use the default box {}",
                                            config_.vm.box, box::default_box));
        progress(fmt::format("building the box {} (once)", box::default_box));
        box::BuildOptions options;
        options.agent = config_.agent_binary;
        box = box::build_box(options, progress);
    }
    auto connection = this->connection();
    std::string uuid;
    if (auto existing = lookup()) {
        char text[VIR_UUID_STRING_BUFLEN] = {};
        if (virDomainGetUUIDString(existing.get(), text) == 0) uuid = text;
    }
    if (uuid.empty()) {
        progress(fmt::format("checking the box {} {}", box->name, box->version));
        box::verify_box(*box);
    }
    const auto agent = choose_agent_disk(connection, *box, config_.agent_binary, progress);
    std::optional<runtime::image::FileLock> network_lock(lock_network());
    ensure_network(connection);
    const auto address = reserve_address(connection, network_name, mac_, domain_name_);
    ensure_pool(connection);

    DomainSpec spec;
    spec.name = domain_name_;
    spec.type = driver_;
    spec.cpus = config_.vm.cpus;
    spec.memory_bytes = config_.vm.memory_bytes;
    spec.mac = mac_;
    spec.console_log = console_log();
    spec.console_socket = console_socket();
    fs::create_directories(spec.console_socket.parent_path());
    spec.uid = ::getuid();
    spec.gid = ::getgid();
    spec.project_dir = config_.project_dir.string();
    // A new data disk starts from the images the last destroy kept, when it kept any.
    const auto data_volume = domain_name_ + "-data.qcow2";
    std::optional<fs::path> seed;
    if (!volume_exists(connection, data_volume))
        seed = usable_image_cache(domain_name_, config_.vm.disk_bytes);
    if (seed)
        progress(fmt::format("starting from the images that the last destroy kept in {}",
                             seed->string()));
    spec.data_disk =
        ensure_volume(connection, data_volume, config_.vm.disk_bytes, seed.value_or(fs::path{}));
    if (box->kind == box::BoxKind::disk)
        spec.root_disk = ensure_volume(connection, domain_name_ + "-root.qcow2",
                                       config_.vm.disk_bytes, *box->file("disk"));
    spec.kernel = box->file("kernel");
    spec.initrd = box->file("initrd");
    spec.agent_disk = agent.image;

    // Only lcloud's own init knows the boot checkpoint; this lcloud's init also takes the SSH
    // key from the "go" line, which leaves the key out of the checkpoint's definition.
    const bool checkpointing = box->kind == box::BoxKind::initramfs;
    const bool key_on_console = checkpointing && box->manifest.value("init_sha256", "") ==
                                                     runtime::image::sha256_digest(box::guest_init);
    // A disk box brings no flags of its own; its init needs the console to announce readiness.
    std::string cmdline =
        box->cmdline().empty() ? "console=ttyS0 quiet loglevel=1 panic=-1" : box->cmdline();
    cmdline += fmt::format(" lcloud.hostname={} lcloud.ip={} lcloud.gateway={} lcloud.dns={}",
                           config_.project_name.empty() ? "lcloud" : config_.project_name,
                           address.ip, address.gateway, address.gateway);
    if (!key_on_console) cmdline += " lcloud.key=" + ssh_key_word();
    int index = 0;
    for (const auto& folder : config_.shares) {
        const auto tag = fmt::format("lcloud{}", index++);
        spec.shares.push_back({tag, folder.host, folder.readonly});
        cmdline += fmt::format(" lcloud.share={},{},{}", tag, percent_escape(folder.guest),
                               folder.readonly ? "ro" : "rw");
    }
    if (checkpointing) cmdline += " lcloud.checkpoint";
    spec.cmdline = cmdline;
    // A checkpoint that destroy kept: the domain is defined again under its uuid, which the saved
    // state carries, so that it restores.
    const auto facts = checkpointing ? checkpoint_facts(domain_name_) : std::nullopt;
    spec.uuid = uuid.empty() && facts ? facts->uuid : uuid;

    // A checkpoint belongs to the definition it was taken with (the uuid aside, which a first
    // definition lacks).
    DomainSpec keyed = spec;
    keyed.uuid.clear();
    const auto checkpoint_key = runtime::image::sha256_digest(domain_xml(keyed));
    const bool restorable = facts && facts->key == checkpoint_key;
    fs::create_directories(config_.state_dir);
    auto record = nlohmann::json{{"domain", domain_name_},
                                 {"address", address.ip.substr(0, address.ip.find('/'))},
                                 {"mac", mac_},
                                 {"driver", driver_},
                                 {"box", box->name + " " + box->version},
                                 {"box_checksum", box->checksum()}};
    // The agent it boots with, for the next `up` to compare while it runs.
    if (!agent.digest.empty()) {
        record["agent"] = agent.description;
        record["agent_sha256"] = agent.digest;
    }
    if (restorable) record["checkpoint"] = checkpoint_key;
    // The disks, and so their snapshots, outlive a new definition.
    if (seed)
        record["seed"] = seed->string();
    else if (const auto previous = machine_record(); !previous.empty())
        for (const char* disk_fact : {"pristine", "seed"})
            if (previous.contains(disk_fact)) record[disk_fact] = previous[disk_fact];
    state::write_file_atomic(config_.state_dir / "machine.json", record.dump(2));
    // Defined again at every cold boot, so that a changed vm section applies.
    const auto xml = domain_xml(spec);
    DomainHandle domain(virDomainDefineXML(connection, xml.c_str()));
    if (!domain) throw_libvirt(fmt::format("defining the VM {}", domain_name_));
    network_lock.reset(); // the defined domain now keeps the network from removal
    if (restorable) {
        progress(fmt::format("starting {} from its boot checkpoint", domain_name_));
        std::string why;
        if (restore_checkpoint(connection, domain_name_, why)) {
            spdlog::debug("{}: restored from its boot checkpoint", domain_name_);
            return wait_until_ready(progress, CheckpointStep::go_on);
        }
        progress(fmt::format("warning: the boot checkpoint of {} does not restore ({}); booting "
                             "afresh",
                             domain_name_, why));
    }
    remove_checkpoint(domain_name_);
    progress(fmt::format("booting {} ({} vCPU, {} MiB, {} at {})", domain_name_, spec.cpus,
                         spec.memory_bytes >> 20, driver_ == "kvm" ? "KVM" : "TCG",
                         address.ip.substr(0, address.ip.find('/'))));
    if (virDomainCreate(domain.get()) != 0)
        throw_libvirt(fmt::format("starting the VM {}", domain_name_));
    wait_until_ready(progress, checkpointing ? CheckpointStep::take : CheckpointStep::none);
    if (checkpointing && fs::exists(checkpoint_file(domain_name_))) {
        char defined_uuid[VIR_UUID_STRING_BUFLEN] = {};
        if (virDomainGetUUIDString(domain.get(), defined_uuid) == 0)
            write_checkpoint_facts(domain_name_, {checkpoint_key, defined_uuid});
        record["checkpoint"] = checkpoint_key;
        state::write_file_atomic(config_.state_dir / "machine.json", record.dump(2));
    }
}

std::string LibvirtMachine::ssh_key_word() {
    const auto key =
        ssh::ensure_key_pair(config_.state_dir / "id_ed25519", "lcloud@" + domain_name_);
    const auto space = key.find(' ');
    return key.substr(0, space) + ":" + key.substr(space + 1, key.find(' ', space + 1) - space - 1);
}

void LibvirtMachine::wait_until_ready(const Progress& progress, CheckpointStep step) {
    const auto timeout = boot_timeout();
    std::string gone_reason;
    // A guest that waits at the boot checkpoint gets "go" lines until it says it went on (the
    // first may come before QEMU reads the console).
    bool waiting = step == CheckpointStep::go_on;
    const auto key_word = ssh_key_word();
    std::unique_ptr<ConsoleWriter> console;
    auto last_go = std::chrono::steady_clock::time_point{};
    const auto at_checkpoint = [&] {
        if (log_has(console_log(), checkpoint_passed_marker)) {
            console.reset();
            return;
        }
        if (!waiting && !log_has(console_log(), checkpoint_marker)) return;
        if (step == CheckpointStep::take) {
            step = CheckpointStep::none;
            progress(fmt::format("saving the boot checkpoint of {} (once; later starts restore "
                                 "it)",
                                 domain_name_));
            take_checkpoint(connection(), require("save a boot checkpoint").get(), domain_name_);
        }
        waiting = true;
        const auto now = std::chrono::steady_clock::now();
        if (now - last_go < 100ms) return;
        last_go = now;
        if (!console)
            console = std::make_unique<ConsoleWriter>(
                connection(), require("start from the boot checkpoint").get(), domain_name_,
                console_socket());
        console->send(checkpoint_go_line(key_word));
    };
    const auto report = wait_for_ready(
        console_log(), timeout,
        [this]() -> std::optional<std::string> {
            // panic=-1 reboots a panicking guest at once, forever: it would never be ready.
            if (const auto log = state::read_file(console_log());
                log && log->find("Kernel panic") != std::string::npos)
                return "the guest's kernel panicked";
            auto domain = lookup();
            if (!domain) return "the VM was removed";
            const auto state = state_of(domain.get());
            if (state != MachineState::running)
                return fmt::format("the VM is {}", to_string(state));
            return std::nullopt;
        },
        &gone_reason, at_checkpoint);
    if (!report) {
        auto domain = lookup();
        const std::string state = domain ? std::string(to_string(state_of(domain.get()))) : "gone";
        throw GuestNotReady(fmt::format(
            "the VM {} did not become ready {}.\n  domain state: {}\n  network: {}\n  last lines "
            "of {}:\n{}",
            domain_name_,
            gone_reason.empty()
                ? fmt::format("within {} s (vm.boot_timeout)", timeout.count() / 1000)
                : "(" + gone_reason + ")",
            state, describe_lease(connection(), network_name, mac_), console_log().string(),
            last_lines(console_log(), 20)));
    }
    pin_host_key(*report);
    progress(fmt::format("{} is ready (guest uptime {} s)", domain_name_, report->uptime));
}

void LibvirtMachine::pin_host_key(const ReadyReport& report) {
    const auto address = guest_address();
    const auto known_hosts = config_.state_dir / "known_hosts";
    if (!report.host_key.empty()) {
        const auto pinned = ssh::pinned_host_key(known_hosts, address, 22);
        const auto key_only = [](const std::string& line) {
            const auto first = line.find(' ');
            return line.substr(0, line.find(' ', first + 1));
        };
        if (pinned && key_only(*pinned) != key_only(report.host_key))
            throw LibvirtError(fmt::format(
                "the VM {} now has another SSH host key than the one pinned in {}; if its data "
                "disk was replaced on purpose, run 'lcloud destroy' and 'lcloud up'",
                domain_name_, known_hosts.string()));
        if (!pinned) ssh::pin_host_key(known_hosts, address, 22, report.host_key);
    }
}

void LibvirtMachine::wait_for_ssh(std::chrono::milliseconds timeout) {
    const auto address = guest_address();
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    while (!port_open(address, 22)) {
        if (std::chrono::steady_clock::now() > deadline)
            throw GuestNotReady(fmt::format("the VM {} does not answer SSH at {}:22 after {} s; "
                                            "last lines of {}:\n{}",
                                            domain_name_, address, timeout.count() / 1000,
                                            console_log().string(), last_lines(console_log(), 20)));
        std::this_thread::sleep_for(50ms);
    }
}

std::string LibvirtMachine::guest_run(const std::string& command) {
    auto session = ssh::Session::connect(ssh_target(ssh_endpoint()));
    auto result = session.capture(command);
    if (result.exit_code != 0)
        throw LibvirtError(fmt::format("in the VM {}, '{}' exited with {}: {}{}", domain_name_,
                                       command, result.exit_code, result.out, result.err));
    return result.out;
}

void LibvirtMachine::halt(std::chrono::seconds timeout) {
    auto domain = lookup();
    if (!domain) return;
    const auto state = state_of(domain.get());
    if (state != MachineState::running && state != MachineState::paused) return;
    if (state == MachineState::running &&
        virDomainShutdownFlags(domain.get(), VIR_DOMAIN_SHUTDOWN_ACPI_POWER_BTN) == 0) {
        const auto deadline = std::chrono::steady_clock::now() + timeout;
        auto pressed = std::chrono::steady_clock::now();
        while (std::chrono::steady_clock::now() < deadline) {
            if (state_of(domain.get()) == MachineState::shut_off) return;
            std::this_thread::sleep_for(50ms);
            // A press the guest was not yet listening for is lost: press again now and then.
            if (std::chrono::steady_clock::now() - pressed > 2s) {
                pressed = std::chrono::steady_clock::now();
                virDomainShutdownFlags(domain.get(), VIR_DOMAIN_SHUTDOWN_ACPI_POWER_BTN);
            }
        }
        spdlog::warn("{} did not power off within {} s of the ACPI request; forcing it off",
                     domain_name_, timeout.count());
    }
    if (virDomainDestroy(domain.get()) != 0) {
        const auto why = last_libvirt_error();
        if (state_of(domain.get()) != MachineState::shut_off)
            throw_libvirt(fmt::format("powering off {}", domain_name_), why);
    }
}

void LibvirtMachine::suspend() {
    auto domain = require("suspend");
    if (state_of(domain.get()) != MachineState::running) return;
    // QEMU cannot save a VM while a 9p share is mounted in it: unmount, save, mount on resume.
    guest_run("/init shares-umount");
    if (virDomainManagedSave(domain.get(), 0) != 0) {
        guest_run("/init shares-mount");
        throw_libvirt(fmt::format("saving the state of {}", domain_name_));
    }
}

void LibvirtMachine::resume(const Progress& progress) {
    auto domain = require("resume");
    const auto state = state_of(domain.get());
    if (state == MachineState::running) return;
    if (state != MachineState::saved) return up(progress);
    if (virDomainCreate(domain.get()) != 0)
        throw_libvirt(fmt::format("restoring {}", domain_name_));
    wait_for_ssh(boot_timeout());
    guest_run("/init shares-mount");
    progress(fmt::format("{} resumed", domain_name_));
}

void LibvirtMachine::reload(const Progress& progress) {
    halt(60s);
    up(progress);
}

void LibvirtMachine::snapshot_save(const std::string& name) {
    auto domain = require("take a snapshot");
    const bool running = state_of(domain.get()) == MachineState::running;
    if (running) guest_run("/init shares-umount");
    const auto xml =
        fmt::format("<domainsnapshot><name>{}</name></domainsnapshot>", xml_escape(name));
    SnapshotHandle snapshot(virDomainSnapshotCreateXML(domain.get(), xml.c_str(), 0));
    if (running) guest_run("/init shares-mount");
    if (!snapshot) throw_libvirt(fmt::format("taking the snapshot {} of {}", name, domain_name_));
}

void LibvirtMachine::snapshot_restore(const std::string& name) {
    auto domain = require("restore a snapshot");
    SnapshotHandle snapshot(virDomainSnapshotLookupByName(domain.get(), name.c_str(), 0));
    if (!snapshot)
        throw LibvirtError(fmt::format("{} has no snapshot '{}'; 'lcloud snapshot list' shows "
                                       "them",
                                       domain_name_, name));
    if (virDomainRevertToSnapshot(snapshot.get(), VIR_DOMAIN_SNAPSHOT_REVERT_FORCE) != 0)
        throw_libvirt(fmt::format("restoring the snapshot {} of {}", name, domain_name_));
    if (state_of(domain.get()) == MachineState::running) {
        wait_for_ssh(boot_timeout());
        guest_run("/init shares-mount");
    }
}

void LibvirtMachine::snapshot_delete(const std::string& name) {
    auto domain = require("delete a snapshot");
    SnapshotHandle snapshot(virDomainSnapshotLookupByName(domain.get(), name.c_str(), 0));
    if (!snapshot) throw LibvirtError(fmt::format("{} has no snapshot '{}'", domain_name_, name));
    if (virDomainSnapshotDelete(snapshot.get(), 0) != 0)
        throw_libvirt(fmt::format("deleting the snapshot {} of {}", name, domain_name_));
}

std::vector<std::string> LibvirtMachine::snapshot_list() {
    std::vector<std::string> names;
    auto domain = lookup();
    if (!domain) return names;
    virDomainSnapshotPtr* snapshots = nullptr;
    const int count = virDomainListAllSnapshots(domain.get(), &snapshots, 0);
    for (int i = 0; i < count; ++i) {
        SnapshotHandle snapshot(snapshots[i]);
        names.emplace_back(virDomainSnapshotGetName(snapshot.get()));
    }
    ::free(snapshots);
    return names;
}

DestroyReport LibvirtMachine::destroy(bool keep_images) {
    DestroyReport report;
    auto& removed = report.removed;
    auto connection = this->connection();
    const auto record = machine_record();
    // The last VM takes the network with it, and its reservation with that. Taking a network
    // down is 0.4 s of firewall rules: done beside the domain's removal (a libvirt connection
    // serves several threads at once), rather than after it.
    const auto network_lock = lock_network();
    std::future<bool> network_removed;
    if (!network_used_by_others(connection, domain_name_))
        network_removed = std::async(std::launch::async, [this, connection] {
            return remove_network_if_unused(connection, domain_name_);
        });
    if (auto domain = lookup()) {
        if (virDomainIsActive(domain.get()) == 1 && virDomainDestroy(domain.get()) != 0)
            throw_libvirt(fmt::format("powering off {}", domain_name_));
        const unsigned flags = VIR_DOMAIN_UNDEFINE_MANAGED_SAVE |
                               VIR_DOMAIN_UNDEFINE_SNAPSHOTS_METADATA | VIR_DOMAIN_UNDEFINE_NVRAM;
        if (virDomainUndefineFlags(domain.get(), flags) != 0)
            throw_libvirt(fmt::format("removing the VM {}", domain_name_));
        removed.push_back("VM " + domain_name_);
    }
    // QEMU leaves the socket of the console it listened on.
    std::error_code ignored_error;
    fs::remove(console_socket(), ignored_error);
    bool checkpoint_kept = false;
    if (!keep_images) {
        std::error_code ignored;
        if (fs::remove(image_cache_file(domain_name_), ignored))
            removed.push_back("the image cache " + image_cache_file(domain_name_).string());
    } else if (auto kept = keep_image_cache(record)) {
        report.kept.push_back(*kept);
        // The next VM of the project restores it too: the key is no longer in its definition.
        checkpoint_kept = checkpoint_facts(domain_name_).has_value();
        if (checkpoint_kept)
            report.kept.push_back(fmt::format("the boot checkpoint {} for the next up",
                                              checkpoint_file(domain_name_).string()));
        for (const auto& file :
             prune_image_caches(connection, image_cache_dir(), image_caches_kept))
            removed.push_back("the image cache " + file + " (the least recently used)");
    }
    for (const auto& volume : volumes_with_prefix(connection, domain_name_ + "-")) {
        delete_volume(connection, volume);
        removed.push_back(fmt::format("volume {}/{}", pool_name, volume));
    }
    const bool checkpoint_removed = !checkpoint_kept && remove_checkpoint(domain_name_);
    if (network_removed.valid() && network_removed.get())
        removed.push_back(
            fmt::format("libvirt network {} (no lcloud VM is left on it)", network_name));
    else
        release_address(connection, network_name, mac_);
    if (checkpoint_removed)
        removed.push_back("boot checkpoint " + checkpoint_file(domain_name_).string());
    for (const char* file :
         {"id_ed25519", "id_ed25519.pub", "known_hosts", "console.log", "machine.json"}) {
        std::error_code error;
        if (fs::remove(config_.state_dir / file, error))
            removed.push_back(fmt::format("{}", (config_.state_dir / file).string()));
    }
    return report;
}

SshEndpoint LibvirtMachine::ssh_endpoint() {
    SshEndpoint endpoint;
    const std::string address = machine_record().value("address", "");
    endpoint.host = address.empty() ? guest_address() : address;
    endpoint.identity = (config_.state_dir / "id_ed25519").string();
    endpoint.known_hosts = (config_.state_dir / "known_hosts").string();
    return endpoint;
}

} // namespace lcloud::providers::libvirt

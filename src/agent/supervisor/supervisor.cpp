#include "agent/supervisor/supervisor.hpp"

#include "agent/dns/dns_server.hpp"
#include "agent/ports/port_forwarder.hpp"
#include "agent/protocol/protocol.hpp"
#include "agent/supervisor/managed.hpp"
#include "common/clock.hpp"
#include "common/error.hpp"
#include "runtime/container/commands.hpp"
#include "runtime/image/overlay.hpp"
#include "runtime/image/store.hpp"
#include "runtime/network/network.hpp"
#include "runtime/oci/config_json.hpp"
#include "state/atomic_file.hpp"

#include <arpa/inet.h>
#include <csignal>
#include <cstring>
#include <fcntl.h>
#include <fmt/format.h>
#include <netinet/in.h>
#include <set>
#include <spdlog/spdlog.h>
#include <sys/epoll.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

namespace lcloud::agent {

namespace fs = std::filesystem;
using namespace std::chrono_literals;

namespace {

Fd open_pidfd(pid_t pid) {
    return Fd(static_cast<int>(::syscall(SYS_pidfd_open, pid, 0)));
}

void write_text(const fs::path& path, const std::string& text) {
    state::write_file_atomic(path, text, 0644, state::Durability::killed_writer);
}

// In place, not by rename: the file is bind-mounted into the running container.
void rewrite_in_place(const fs::path& path, const std::string& text) {
    Fd file(::open(path.c_str(), O_WRONLY | O_TRUNC | O_CLOEXEC));
    if (!file) throw_errno("rewrite", path.string());
    if (::write(file.get(), text.data(), text.size()) != static_cast<ssize_t>(text.size()))
        throw_errno("write", path.string());
}

bool is_mountpoint(const fs::path& path) {
    struct stat self {
    }, parent{};
    if (::stat(path.c_str(), &self) != 0 || ::stat(path.parent_path().c_str(), &parent) != 0)
        return false;
    return self.st_dev != parent.st_dev;
}

Protocol protocol_of(const std::string& text) {
    return text == "udp" ? Protocol::udp : Protocol::tcp;
}

// A port the kernel says is free now; the forwarder binds it right after.
uint16_t free_port(const std::string& address, Protocol protocol) {
    Fd socket_fd(::socket(
        AF_INET, (protocol == Protocol::udp ? SOCK_DGRAM : SOCK_STREAM) | SOCK_CLOEXEC, 0));
    sockaddr_in where{};
    where.sin_family = AF_INET;
    ::inet_pton(AF_INET, address.c_str(), &where.sin_addr);
    socklen_t length = sizeof where;
    if (!socket_fd || ::bind(socket_fd.get(), reinterpret_cast<sockaddr*>(&where), length) != 0 ||
        ::getsockname(socket_fd.get(), reinterpret_cast<sockaddr*>(&where), &length) != 0)
        throw_errno("find a free port on", address);
    return ntohs(where.sin_port);
}

} // namespace

Supervisor::Supervisor(SupervisorServices services) : services_(std::move(services)) {
    fs::create_directories(services_.paths.containers());
    fs::create_directories(services_.paths.volumes());
}

Supervisor::~Supervisor() {
    for (auto& [id, container] : containers_) {
        if (container->pidfd) services_.loop.unwatch(container->pidfd.get());
        if (container->health_pidfd) services_.loop.unwatch(container->health_pidfd.get());
        unpublish_ports(*container);
    }
}

Supervisor::Managed& Supervisor::get(const std::string& id) const {
    const auto found = containers_.find(id);
    if (found == containers_.end())
        throw AgentError("not_found", fmt::format("no container {} on this agent", id));
    return *found->second;
}

fs::path Supervisor::log_dir(const std::string& id) const {
    return get(id).paths.dir;
}

void Supervisor::save(const Managed& container) const {
    if (container.removing && !fs::exists(container.paths.dir)) return;
    write_text(container.paths.record(), record_json(container).dump(2));
}

void Supervisor::emit(const Managed& container, const std::string& action) {
    const nlohmann::json event{{"time", now_rfc3339_nanos()},
                               {"container", container.id()},
                               {"environment", container.status.spec.environment},
                               {"service", container.status.spec.service},
                               {"action", action},
                               {"state", container.status.state},
                               {"health", container.status.health}};
    // A sink may unsubscribe itself.
    auto sinks = sinks_;
    for (auto& [number, sink] : sinks)
        sink(event);
}

int Supervisor::subscribe(EventSink sink) {
    sinks_[next_sink_] = std::move(sink);
    return next_sink_++;
}

void Supervisor::unsubscribe(int subscription) {
    sinks_.erase(subscription);
}

ContainerStatus Supervisor::create(const ContainerSpec& spec) {
    runtime::check_container_id(spec.id);
    if (containers_.count(spec.id))
        throw AgentError("exists",
                         fmt::format("container {} exists already; remove it first", spec.id));
    const auto details = services_.images.inspect(spec.image);
    auto container = std::make_unique<Managed>();
    container->paths = services_.paths.container(spec.id);
    container->status.spec = spec;
    container->status.image_id = details.id;
    container->status.state = "created";
    if (spec.health) container->status.health = "starting";

    const fs::path dir = container->paths.dir;
    if (fs::exists(dir)) fs::remove_all(dir); // what a killed create left
    try {
        fs::create_directories(container->paths.upper());
        fs::create_directories(container->paths.work());
        fs::create_directories(container->paths.rootfs());
        make_log_fifos(dir);
        for (const auto& mount : spec.mounts)
            if (mount.type == "volume")
                fs::create_directories(services_.paths.volumes() / mount.source / "data");
        save(*container);
        Managed& managed = *container;
        containers_[spec.id] = std::move(container);
        try {
            launch(managed);
        } catch (...) {
            release_runtime(managed);
            unpublish_ports(managed);
            if (!spec.network.empty()) services_.networks.detach(spec.network, spec.id);
            ::umount2(managed.paths.rootfs().c_str(), MNT_DETACH);
            containers_.erase(spec.id);
            throw;
        }
        emit(managed, "create");
        return managed.status;
    } catch (...) {
        std::error_code ignored;
        fs::remove_all(dir, ignored);
        throw;
    }
}

// Mount the root, write the files the container sees, create it, connect it, start it.
void Supervisor::launch(Managed& container) {
    const ContainerSpec& spec = container.status.spec;
    const ContainerPaths& paths = container.paths;
    if (!is_mountpoint(paths.rootfs())) {
        runtime::image::OverlaySpec overlay{services_.images.lower_dirs(container.status.image_id),
                                            paths.upper(), paths.work(), paths.rootfs()};
        runtime::image::OverlayMount(overlay).release();
    }
    const std::string hostname = container_hostname(spec);
    write_text(paths.hostname(), hostname + "\n");
    write_text(paths.hosts(), fmt::format("127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost "
                                          "ip6-loopback\n"));
    std::string gateway;
    if (!spec.network.empty()) {
        gateway = ready_network(spec.network);
        write_text(paths.resolv_conf(), fmt::format("nameserver {}\noptions ndots:0\n", gateway));
    } else {
        write_text(paths.resolv_conf(), "");
    }
    const auto image = services_.images.inspect(container.status.image_id).config;
    const auto config = make_container_config(spec, image, paths, services_.paths.volumes());
    write_text(paths.dir / "config.json", runtime::oci::to_json(config).dump(2));

    auto [out, err] = open_container_stdio(paths.dir);
    Fd null(::open("/dev/null", O_RDONLY | O_CLOEXEC));
    runtime::CreateOptions options;
    options.id = spec.id;
    options.bundle = paths.dir;
    options.stdio = {null.get(), out.get(), err.get()};
    if (services_.runtime.exists(spec.id)) // left by a killed agent
        runtime::delete_container(services_.runtime, spec.id, true, &config);
    const pid_t pid = runtime::create_container(services_.runtime, options, config);
    container.status.pid = pid;
    container.is_child = true;
    container.pid_start_time = runtime::process_start_time(pid);
    container.pidfd = open_pidfd(pid);
    if (!container.pidfd) throw_errno("pidfd_open", spec.id);
    if (!spec.network.empty()) {
        const auto attachment = [&] {
            try {
                return services_.networks.attach(spec.network, spec.id, pid);
            } catch (const std::exception& error) {
                // Perhaps the bridge or the rules went away since: repair, then try once more.
                spdlog::info("agent: attaching {} to {}: {}; checking the network", spec.id,
                             spec.network, error.what());
                forget_network(spec.network);
                ready_network(spec.network);
                return services_.networks.attach(spec.network, spec.id, pid);
            }
        }();
        container.status.address = attachment.address.to_string();
        rewrite_in_place(paths.hosts(),
                         fmt::format("127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost "
                                     "ip6-loopback\n{}\t{}\n",
                                     container.status.address, hostname));
    }
    if (!container.logs)
        container.logs = std::make_unique<LogCapture>(services_.loop, paths.dir);
    else
        container.logs->reopen();
    runtime::start_container(services_.runtime, spec.id);
    container.status.state = "running";
    container.status.exit_code.reset();
    container.status.started_at = now_rfc3339_nanos();
    container.started = Clock::now();
    container.stop_requested = false;
    watch_exit(container);
    publish_ports(container);
    if (!spec.network.empty()) refresh_names(spec.network);
    if (spec.health) {
        container.status.health = "starting";
        container.failing_streak = 0;
        schedule_next_health(container);
    }
    save(container);
    emit(container, "start");
}

void Supervisor::watch_exit(Managed& container) {
    const std::string id = container.id();
    services_.loop.watch(container.pidfd.get(), EPOLLIN, [this, id](uint32_t) {
        if (auto found = containers_.find(id); found != containers_.end()) on_exit(*found->second);
    });
}

void Supervisor::on_exit(Managed& container) {
    services_.loop.unwatch(container.pidfd.get());
    std::optional<int> code;
    if (container.is_child) {
        siginfo_t info{};
        if (::waitid(static_cast<idtype_t>(P_PIDFD), static_cast<id_t>(container.pidfd.get()),
                     &info, WEXITED | WNOHANG) == 0 &&
            info.si_pid != 0)
            code = info.si_code == CLD_EXITED ? info.si_status : 128 + info.si_status;
    }
    container.pidfd.reset();
    container.status.exit_code = code;
    container.status.pid = 0;
    container.status.finished_at = now_rfc3339_nanos();
    if (container.kill_timer) services_.loop.cancel(*container.kill_timer);
    if (container.stop_signal_timer) services_.loop.cancel(*container.stop_signal_timer);
    if (container.health_timer) services_.loop.cancel(*container.health_timer);
    container.kill_timer.reset();
    container.stop_signal_timer.reset();
    container.health_timer.reset();
    if (container.logs) container.logs->flush();
    release_runtime(container);
    if (!container.status.spec.network.empty()) refresh_names(container.status.spec.network);
    spdlog::info("agent: container {} exited ({})", container.id(),
                 code ? fmt::format("code {}", *code) : std::string("code unknown"));
    container.status.state = container.stop_requested ? "stopped" : "exited";
    if (container.status.spec.health) container.status.health = "";
    save(container);
    emit(container, "die");
    auto waiting = std::move(container.on_stopped);
    container.on_stopped.clear();
    if (!container.stop_requested && !container.removing) apply_restart_policy(container);
    // A container that stays down gives its host ports back, as Docker's do; one about to
    // restart keeps them, so that nothing else takes them meanwhile.
    if (!container.restart_timer) unpublish_ports(container);
    for (auto& done : waiting)
        done();
}

void Supervisor::release_runtime(Managed& container) {
    try {
        if (services_.runtime.exists(container.id()))
            runtime::delete_container(services_.runtime, container.id(), true);
    } catch (const std::exception& error) {
        spdlog::warn("agent: cleaning up container {}: {}", container.id(), error.what());
    }
}

void Supervisor::apply_restart_policy(Managed& container) {
    const ContainerSpec& spec = container.status.spec;
    const auto& code = container.status.exit_code;
    bool restart = spec.restart == "always" || spec.restart == "unless-stopped";
    if (spec.restart == "on-failure")
        restart = (!code || *code != 0) &&
                  (spec.max_retries == 0 || container.status.restarts < spec.max_retries);
    if (!restart) return;
    // As Docker: the delay doubles from 100 ms up to a minute, and starts over once a run lasted
    // 10 s.
    if (Clock::now() - container.started > 10s) container.backoff_step = 0;
    const auto delay =
        std::min<Clock::duration>(100ms * (1 << std::min(container.backoff_step, 10)), 60s);
    ++container.backoff_step;
    container.status.state = "restarting";
    save(container);
    const std::string id = container.id();
    container.restart_timer = services_.loop.after(delay, [this, id] {
        const auto found = containers_.find(id);
        if (found == containers_.end()) return;
        Managed& again = *found->second;
        again.restart_timer.reset();
        if (again.status.state != "restarting") return;
        ++again.status.restarts;
        try {
            launch(again);
            emit(again, "restart");
        } catch (const std::exception& error) {
            spdlog::error("agent: restarting container {}: {}", id, error.what());
            release_runtime(again);
            again.status.state = "exited";
            again.status.exit_code = 127;
            save(again);
            apply_restart_policy(again);
        }
    });
}

void Supervisor::start(const std::string& id) {
    Managed& container = get(id);
    if (container.status.state == "running") return;
    if (container.restart_timer) services_.loop.cancel(*container.restart_timer);
    container.restart_timer.reset();
    container.backoff_step = 0;
    launch(container);
}

void Supervisor::stop(const std::string& id, Done done, bool kill) {
    Managed& container = get(id);
    container.stop_requested = true;
    if (container.restart_timer) {
        services_.loop.cancel(*container.restart_timer);
        container.restart_timer.reset();
    }
    if (container.status.state != "running" || !container.pidfd) {
        if (container.status.state == "restarting") container.status.state = "stopped";
        unpublish_ports(container);
        save(container);
        if (done) done();
        return;
    }
    if (done) container.on_stopped.push_back(std::move(done));
    if (container.kill_timer) return; // already stopping
    save(container);
    if (!kill) send_stop_signal(container);
    container.kill_timer = services_.loop.after(
        std::chrono::milliseconds(kill ? 0 : container.status.spec.stop_grace_ms), [this, id] {
            const auto found = containers_.find(id);
            if (found == containers_.end()) return;
            found->second->kill_timer.reset();
            try {
                runtime::kill_container(services_.runtime, id, SIGKILL, true);
            } catch (const std::exception& error) {
                spdlog::warn("agent: SIGKILL to {}: {}", id, error.what());
            }
        });
}

void Supervisor::remove(const std::string& id, Done done, bool kill) {
    Managed& container = get(id);
    container.removing = true;
    stop(
        id,
        [this, id, done = std::move(done)] {
            if (auto found = containers_.find(id); found != containers_.end())
                finish_removal(*found->second);
            if (done) done();
        },
        kill);
}

void Supervisor::finish_removal(Managed& container) {
    const std::string id = container.id();
    const ContainerSpec spec = container.status.spec;
    if (container.health_pidfd) services_.loop.unwatch(container.health_pidfd.get());
    if (container.health_pid > 0) ::kill(container.health_pid, SIGKILL);
    unpublish_ports(container);
    container.logs.reset();
    release_runtime(container);
    if (!spec.network.empty()) {
        services_.networks.detach(spec.network, id);
    }
    if (::umount2(container.paths.rootfs().c_str(), MNT_DETACH) != 0 && errno != EINVAL &&
        errno != ENOENT)
        spdlog::warn("agent: unmounting the root of {}: {}", id, std::strerror(errno));
    std::error_code ignored;
    fs::remove_all(container.paths.dir, ignored);
    const nlohmann::json event{{"time", now_rfc3339_nanos()},
                               {"container", id},
                               {"environment", spec.environment},
                               {"service", spec.service},
                               {"action", "remove"}};
    containers_.erase(id);
    if (!spec.network.empty()) refresh_names(spec.network);
    auto sinks = sinks_;
    for (auto& [number, sink] : sinks)
        sink(event);
}

void Supervisor::publish_ports(Managed& container) {
    if (container.ports_published || container.status.address.empty()) return;
    auto& bound = container.status.ports;
    bound.clear();
    std::vector<Forward> added;
    try {
        for (PortSpec port : container.status.spec.ports) {
            if (port.host_port == 0)
                port.host_port = free_port(port.host_ip, protocol_of(port.protocol));
            std::vector<std::string> addresses{port.host_ip};
            // Reachable at 127.0.0.1 too, unless that is already covered.
            if (port.host_ip != "127.0.0.1" && port.host_ip != "0.0.0.0")
                addresses.push_back("127.0.0.1");
            for (const auto& address : addresses) {
                Forward forward{protocol_of(port.protocol), address, port.host_port,
                                container.status.address, port.container_port};
                services_.ports.add(forward);
                added.push_back(forward);
            }
            bound.push_back(port);
        }
    } catch (...) {
        for (const auto& forward : added)
            services_.ports.remove(forward);
        bound.clear();
        throw;
    }
    container.ports_published = true;
}

void Supervisor::unpublish_ports(Managed& container) {
    if (!container.ports_published) return;
    for (const auto& port : container.status.ports) {
        std::vector<std::string> addresses{port.host_ip};
        if (port.host_ip != "127.0.0.1" && port.host_ip != "0.0.0.0")
            addresses.push_back("127.0.0.1");
        for (const auto& address : addresses)
            services_.ports.remove(Forward{protocol_of(port.protocol), address, port.host_port,
                                           container.status.address, port.container_port});
    }
    container.status.ports.clear();
    container.ports_published = false;
}

void Supervisor::prepare_networks() {
    std::set<std::string> names;
    for (const auto& [id, container] : containers_)
        if (!container->status.spec.network.empty()) names.insert(container->status.spec.network);
    for (const auto& name : names) {
        try {
            ready_network(name);
        } catch (const std::exception& error) {
            // The container's start sets it up again, and says what fails.
            spdlog::warn("agent: preparing the network {}: {}", name, error.what());
        }
    }
}

std::string Supervisor::ready_network(const std::string& name) {
    if (const auto found = ready_networks_.find(name); found != ready_networks_.end())
        return found->second;
    const auto network = services_.networks.ensure(name);
    return ready_networks_[name] = network.subnet.gateway().to_string();
}

void Supervisor::refresh_names(const std::string& network_name) {
    const auto network = services_.networks.find(network_name);
    if (!network) return;
    const std::string gateway = network->subnet.gateway().to_string();
    std::map<std::string, std::vector<std::string>> records;
    bool any = false;
    for (const auto& [id, container] : containers_) {
        const auto& status = container->status;
        if (status.spec.network != network_name) continue;
        any = true;
        if (status.state != "running" || status.address.empty()) continue;
        std::vector<std::string> names = status.spec.aliases;
        names.push_back(container_hostname(status.spec));
        names.push_back(id);
        for (const auto& name : names) {
            auto& addresses = records[name];
            if (std::find(addresses.begin(), addresses.end(), status.address) == addresses.end())
                addresses.push_back(status.address);
        }
    }
    try {
        if (!any) {
            if (dns_addresses_.erase(gateway)) services_.dns.stop_listening(gateway);
            return;
        }
        if (dns_addresses_.insert(gateway).second) services_.dns.listen(gateway, 53);
        services_.dns.set_records(gateway, std::move(records));
    } catch (const std::exception& error) {
        spdlog::warn("agent: names of network {}: {}", network_name, error.what());
    }
}

std::vector<ContainerStatus> Supervisor::list(const std::string& environment) const {
    std::vector<ContainerStatus> out;
    for (const auto& [id, container] : containers_)
        if (environment.empty() || container->status.spec.environment == environment)
            out.push_back(container->status);
    return out;
}

ContainerStatus Supervisor::status(const std::string& id) const {
    return get(id).status;
}

} // namespace lcloud::agent

#include "runtime/image/build/run_container.hpp"

#include "common/error.hpp"
#include "common/fd.hpp"
#include "runtime/container/commands.hpp"
#include "runtime/image/store_files.hpp"
#include "runtime/oci/config_json.hpp"
#include "runtime/oci/defaults.hpp"
#include "runtime/rootfs/safe_path.hpp"
#include "state/atomic_file.hpp"

#include <atomic>
#include <cerrno>
#include <csignal>
#include <cstring>
#include <deque>
#include <exception>
#include <fcntl.h>
#include <net/if.h>
#include <sched.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <thread>
#include <unistd.h>

namespace lcloud::runtime::image::build {

namespace fs = std::filesystem;

namespace {

constexpr size_t kept_lines = 20;

// A network namespace with loopback up and nothing else, held by the returned fd. Made on a
// thread of its own: unshare moves only the calling thread into it.
Fd loopback_only_network() {
    Fd result;
    std::exception_ptr failure;
    std::thread([&] {
        try {
            if (::unshare(CLONE_NEWNET) != 0) throw_errno("create", "a network namespace for RUN");
            const Fd socket_fd(::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0));
            if (!socket_fd) throw_errno("create a socket to bring up", "lo");
            ifreq request{};
            std::strncpy(request.ifr_name, "lo", IFNAMSIZ - 1);
            if (::ioctl(socket_fd.get(), SIOCGIFFLAGS, &request) != 0)
                throw_errno("read the flags of", "lo");
            request.ifr_flags = static_cast<short>(request.ifr_flags | IFF_UP);
            if (::ioctl(socket_fd.get(), SIOCSIFFLAGS, &request) != 0)
                throw_errno("bring up", "lo");
            result = Fd(::open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC));
            if (!result) throw_errno("open", "/proc/thread-self/ns/net");
        } catch (...) {
            failure = std::current_exception();
        }
    }).join();
    if (failure) std::rethrow_exception(failure);
    return result;
}

// A file of the image that a host file may be mounted on (it exists, as a regular file).
bool has_regular_file(const fs::path& rootfs, const char* path) {
    const Fd root(::open(rootfs.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC));
    if (!root) return false;
    try {
        const Fd file = rootfs::open_in_root_if_exists(root.get(), path, O_PATH | O_NOFOLLOW);
        struct stat st {};
        return file && ::fstat(file.get(), &st) == 0 && S_ISREG(st.st_mode);
    } catch (const SystemError&) {
        return false;
    }
}

std::string container_id() {
    static std::atomic<unsigned> counter{0};
    return "lcloud-build-" + std::to_string(::getpid()) + "-" + std::to_string(counter++);
}

oci::Config build_config(const RunRequest& request, const Fd& network) {
    oci::Config config = oci::default_spec();
    config.root = oci::Root{request.rootfs.string(), false};
    oci::Process& process = *config.process;
    process.terminal = false;
    process.args = request.args;
    process.env = request.env;
    process.cwd = request.cwd.empty() ? "/" : request.cwd;
    process.user.uid = request.user.uid;
    process.user.gid = request.user.gid;
    process.user.additional_gids = request.user.additional_gids;
    // As in Docker's builds: setuid programs (su, sudo) work.
    process.no_new_privileges = false;
    auto& namespaces = config.linux.namespaces;
    if (request.network) {
        std::erase_if(namespaces, [](const oci::Namespace& ns) {
            return ns.type == oci::NamespaceType::network;
        });
        for (const char* file : {"/etc/resolv.conf", "/etc/hosts"})
            if (has_regular_file(request.rootfs, file))
                config.mounts.push_back({file, "bind", file, {"bind", "ro", "nosuid", "nodev"}});
    } else {
        for (auto& ns : namespaces)
            if (ns.type == oci::NamespaceType::network)
                ns.path = "/proc/self/fd/" + std::to_string(network.get());
    }
    return config;
}

// Kills, reaps and deletes the container however the run ends.
struct ContainerGuard {
    const StateStore& store;
    std::string id;
    const oci::Config& config;
    pid_t pid = 0;
    bool deleted = false;
    ~ContainerGuard() {
        if (pid > 0) {
            ::kill(pid, SIGKILL);
            while (::waitpid(pid, nullptr, 0) < 0 && errno == EINTR) {
            }
        }
        if (deleted) return;
        try {
            if (store.exists(id)) delete_container(store, id, true, &config);
        } catch (...) {
        }
    }
};

class LineSplitter {
  public:
    explicit LineSplitter(const std::function<void(const std::string&)>& output)
        : output_(output) {}
    void feed(const char* data, size_t size) {
        partial_.append(data, size);
        size_t start = 0;
        for (size_t end; (end = partial_.find('\n', start)) != std::string::npos; start = end + 1)
            emit(partial_.substr(start, end - start));
        partial_.erase(0, start);
    }
    void finish() {
        if (!partial_.empty()) emit(partial_);
        partial_.clear();
    }
    std::vector<std::string> tail() const { return {last_.begin(), last_.end()}; }

  private:
    void emit(std::string line) {
        if (!line.empty() && line.back() == '\r') line.pop_back();
        if (output_) output_(line);
        last_.push_back(std::move(line));
        if (last_.size() > kept_lines) last_.pop_front();
    }
    const std::function<void(const std::string&)>& output_;
    std::string partial_;
    std::deque<std::string> last_;
};

} // namespace

RunOutcome run_build_container(const RunRequest& request,
                               const std::function<void(const std::string&)>& output) {
    if (::mkdir(request.bundle_dir.c_str(), 0700) != 0)
        throw_errno("create bundle directory", request.bundle_dir.string());
    const RemoveGuard bundle_guard(request.bundle_dir);
    const Fd network = request.network ? Fd() : loopback_only_network();
    const oci::Config config = build_config(request, network);
    // start_container reads the hooks from the bundle's config.json.
    state::write_file_atomic(request.bundle_dir / "config.json", oci::to_json(config).dump(), 0600,
                             state::Durability::killed_writer);

    int pipe_fds[2];
    if (::pipe2(pipe_fds, O_CLOEXEC) != 0) throw_errno("create", "the output pipe of RUN");
    const Fd read_end(pipe_fds[0]);
    Fd write_end(pipe_fds[1]);
    const Fd null(::open("/dev/null", O_RDONLY | O_CLOEXEC));
    if (!null) throw_errno("open", "/dev/null");

    const StateStore store(request.runtime_root);
    CreateOptions options;
    options.id = container_id();
    options.bundle = request.bundle_dir;
    options.stdio = {null.get(), write_end.get(), write_end.get()};
    ContainerGuard guard{store, options.id, config};
    guard.pid = create_container(store, options, config);
    // Only the container holds the write end now: its end is our end of file.
    write_end.reset();
    start_container(store, options.id);

    LineSplitter lines(output);
    char buffer[16384];
    for (;;) {
        const ssize_t count = ::read(read_end.get(), buffer, sizeof buffer);
        if (count < 0 && errno == EINTR) continue;
        if (count < 0) throw_errno("read the output of", "container " + options.id);
        if (count == 0) break;
        lines.feed(buffer, static_cast<size_t>(count));
    }
    lines.finish();
    int status = 0;
    while (::waitpid(guard.pid, &status, 0) < 0)
        if (errno != EINTR) throw_errno("wait for", "container " + options.id);
    guard.pid = 0;
    delete_container(store, options.id, true, &config);
    guard.deleted = true;
    return {exit_code_of(status), lines.tail()};
}

} // namespace lcloud::runtime::image::build

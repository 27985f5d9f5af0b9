#include "runtime/container/process.hpp"

#include "common/error.hpp"
#include "common/strings.hpp"
#include "runtime/container/dmz.hpp"
#include "runtime/rootfs/safe_path.hpp"
#include "runtime/security/capabilities.hpp"
#include "runtime/security/seccomp.hpp"

#include <cerrno>
#include <csignal>
#include <fcntl.h>
#include <fmt/format.h>
#include <linux/close_range.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

namespace lcloud::runtime {

namespace {

constexpr const char* default_path = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

bool is_executable_file(const std::string& path) {
    struct stat info {};
    return ::stat(path.c_str(), &info) == 0 && S_ISREG(info.st_mode) &&
           ::access(path.c_str(), X_OK) == 0;
}

} // namespace

std::string resolve_executable(const oci::Process& process) {
    const std::string& program = process.args.front();
    if (program.find('/') != std::string::npos) {
        if (!is_executable_file(program))
            throw Error(
                fmt::format("exec: \"{}\": no such executable file in the container", program));
        return program;
    }
    std::string path = default_path;
    for (const auto& variable : process.env)
        if (variable.starts_with("PATH=")) path = variable.substr(5);
    for (const auto& dir : split(path, ':')) {
        const std::string candidate = (dir.empty() ? "." : dir) + "/" + program;
        if (is_executable_file(candidate)) return candidate;
    }
    throw Error(
        fmt::format("exec: \"{}\": executable file not found in $PATH ({})", program, path));
}

void enter_working_directory(const oci::Process& process) {
    const Fd root(::open("/", O_PATH | O_DIRECTORY | O_CLOEXEC));
    if (!root) throw_errno("open the root to find the working directory", process.cwd);
    // Resolved, and created where missing, inside the root and never through a /proc magic
    // link: through a descriptor the runtime holds (/proc/self/fd/N) the cwd, or a directory
    // made on the way, would be the host's (CVE-2024-21626 class).
    Fd cwd;
    try {
        cwd = rootfs::ensure_directory_in_root(root.get(), process.cwd, 0755);
    } catch (const SystemError& error) {
        throw Error(fmt::format("working directory {}: {}", process.cwd, error.what()));
    }
    if (::fchdir(cwd.get()) != 0) throw_errno("enter working directory", process.cwd);
    // A second line of defence: outside the root getcwd fails or names an unreachable path.
    char buffer[4096];
    const char* path = ::getcwd(buffer, sizeof buffer);
    if (path == nullptr || path[0] != '/')
        throw Error(fmt::format("working directory {} leads outside the container", process.cwd));
}

// exec keeps ignored signals ignored and blocked ones blocked; the container's program must not
// inherit its caller's (the agent blocks SIGTERM for its signalfd and ignores SIGPIPE).
void restore_default_signals() {
    for (int signal = 1; signal < NSIG; ++signal)
        ::signal(signal, SIG_DFL); // SIGKILL, SIGSTOP and libc's own refuse, harmlessly
    sigset_t none;
    ::sigemptyset(&none);
    ::sigprocmask(SIG_SETMASK, &none, nullptr);
}

void exec_process(const oci::Process& process, const std::string& executable,
                  const std::optional<security::SeccompProgram>& seccomp) {
    const Fd dmz = make_dmz_memfd();
    security::apply_rlimits(process.rlimits);
    if (process.oom_score_adj) security::set_oom_score_adj(*process.oom_score_adj);
    if (seccomp && !process.no_new_privileges) security::load_seccomp(*seccomp);
    security::change_user(process.user, process.capabilities);
    if (process.no_new_privileges) {
        security::set_no_new_privileges();
        if (seccomp) security::load_seccomp(*seccomp);
    }
    // No descriptor of the runtime may reach the container's program (CVE-2024-21626 class).
    if (::syscall(SYS_close_range, 3U, ~0U, CLOSE_RANGE_CLOEXEC) != 0)
        throw_errno("mark descriptors close-on-exec", "the container process");
    restore_default_signals();
    exec_through_dmz(dmz, executable, process.args, process.env);
    throw_errno("exec", executable);
}

std::optional<security::SeccompProgram> seccomp_program(const oci::Config& config,
                                                        const std::filesystem::path& runtime_root) {
    if (!config.linux.seccomp) return std::nullopt;
    return security::compile_seccomp_cached(*config.linux.seccomp, runtime_root / "seccomp-cache");
}

} // namespace lcloud::runtime

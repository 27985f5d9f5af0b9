#pragma once

// Helpers for the tests of config.json features through the runtime binaries.

#include "runtime/container/runtime_under_test.hpp"

#include <cerrno>
#include <chrono>
#include <cstring>
#include <doctest/doctest.h>
#include <filesystem>
#include <fstream>
#include <functional>
#include <nlohmann/json.hpp>
#include <sstream>
#include <stdexcept>
#include <string>
#include <sys/mount.h>
#include <thread>
#include <unistd.h>

// Their own namespace: lcloud::test has helpers of these names in other test headers, and two
// inline functions of one name and signature are one function to the linker.
namespace lcloud::test::features {

// A file's whole content ("" when it cannot be read). Not read_text: a header of the cgroups
// tests defines another lcloud::test::read_text, which trims, and the linker keeps one of them.
inline std::string file_text(const std::filesystem::path& path) {
    std::ifstream in(path, std::ios::binary);
    std::ostringstream text;
    text << in.rdbuf();
    return text.str();
}

// A container id unique to this test process: cgroups are named after container ids, and
// another run of these tests may be going on at the same time.
inline std::string cid(const std::string& base) {
    return base + "-" + std::to_string(::getpid());
}

inline nlohmann::json container_state(const RuntimeUnderTest& runtime, const std::string& id) {
    const auto result = runtime.run("state " + id, true);
    REQUIRE_MESSAGE(result.exit_code == 0, result.output);
    return nlohmann::json::parse(result.output);
}

inline int container_pid(const RuntimeUnderTest& runtime, const std::string& id) {
    return container_state(runtime, id).at("pid").get<int>();
}

// Polls `done` every 10 ms until it holds or `timeout` passes; its last answer.
inline bool eventually(const std::function<bool()>& done,
                       std::chrono::milliseconds timeout = std::chrono::seconds(3)) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    for (;;) {
        if (done()) return true;
        if (std::chrono::steady_clock::now() >= deadline) return false;
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
}

inline bool wait_for_status(const RuntimeUnderTest& runtime, const std::string& id,
                            const std::string& status) {
    return eventually([&] { return container_state(runtime, id).at("status") == status; });
}

// Exited: gone, or a zombie, since an orphaned init is reaped by the machine's pid 1 only when it
// gets to it.
inline bool process_gone(int pid) {
    return eventually([pid] {
        const std::string stat = file_text("/proc/" + std::to_string(pid) + "/stat");
        const auto end_of_name = stat.rfind(')');
        return end_of_name == std::string::npos || stat.at(end_of_name + 2) == 'Z';
    });
}

// The value of "Field:" in a /proc/PID/status text.
inline std::string status_field(const std::string& status, const std::string& field) {
    const auto start = status.find("\n" + field + ":");
    if (start == std::string::npos && !status.starts_with(field + ":")) return "(missing)";
    const size_t name = start == std::string::npos ? 0 : start + 1;
    const auto value = status.find_first_not_of(" \t", name + field.size() + 1);
    if (value == std::string::npos) return "";
    return status.substr(value, status.find('\n', value) - value);
}

inline std::string shell_quote(const std::string& text) {
    std::string quoted = "'";
    for (const char c : text)
        quoted += c == '\'' ? std::string("'\\''") : std::string(1, c);
    return quoted + "'";
}

// `run -d`: the container's stdio goes to a file, so that nothing waits on it.
inline CommandResult run_detached(const RuntimeUnderTest& runtime, const BusyboxBundle& bundle,
                                  const std::string& id) {
    bundle.write_config();
    return runtime.run_detached("run -d --bundle " + shell_quote(bundle.path().string()) + " " +
                                id);
}

inline nlohmann::ordered_json bind_mount(const std::string& source, const std::string& destination,
                                         const std::vector<std::string>& options) {
    return {
        {"destination", destination}, {"type", "bind"}, {"source", source}, {"options", options}};
}

// The container's directory in one cgroup hierarchy on the host, from /proc/PID/cgroup:
// `controller` is a v1 controller ("memory") or "" for the cgroup2 hierarchy.
inline std::filesystem::path host_cgroup_dir(int pid, const std::string& controller) {
    const std::string content = file_text("/proc/" + std::to_string(pid) + "/cgroup");
    size_t start = 0;
    while (start < content.size()) {
        const size_t end = content.find('\n', start);
        const std::string line = content.substr(start, end - start);
        start = end == std::string::npos ? content.size() : end + 1;
        const size_t first = line.find(':');
        const size_t second = line.find(':', first + 1);
        if (first == std::string::npos || second == std::string::npos) continue;
        const std::string controllers = line.substr(first + 1, second - first - 1);
        const std::string path = line.substr(second + 1);
        if (controller.empty() && controllers.empty())
            return std::filesystem::path("/sys/fs/cgroup/unified") / path.substr(1);
        for (size_t from = 0; !controller.empty() && from <= controllers.size();) {
            const size_t comma = std::min(controllers.find(',', from), controllers.size());
            if (controllers.substr(from, comma - from) == controller)
                return std::filesystem::path("/sys/fs/cgroup") / controller / path.substr(1);
            from = comma + 1;
        }
    }
    FAIL("no " << (controller.empty() ? "cgroup2" : controller) << " line in /proc/" << pid
               << "/cgroup: " << content);
    return {};
}

// More busybox applets in the bundle's /bin than BusyboxBundle links.
inline void add_applets(const BusyboxBundle& bundle, const std::vector<std::string>& applets) {
    for (const auto& applet : applets) {
        const auto link = bundle.rootfs() / "bin" / applet;
        if (!std::filesystem::is_symlink(link)) std::filesystem::create_symlink("busybox", link);
    }
}

inline std::string trimmed(std::string text) {
    while (!text.empty() && (text.back() == '\n' || text.back() == ' '))
        text.pop_back();
    return text;
}

// A mount on the host that a test made; detached in every path, before its TempDir goes.
class HostMount {
  public:
    HostMount(const std::filesystem::path& target, const std::string& type,
              const std::string& options)
        : target_(target) {
        std::filesystem::create_directories(target);
        if (::mount(type.c_str(), target.c_str(), type.c_str(), 0, options.c_str()) != 0)
            throw std::runtime_error("mount " + type + " on " + target.string() + ": " +
                                     std::strerror(errno));
    }
    HostMount(const HostMount&) = delete;
    HostMount& operator=(const HostMount&) = delete;
    ~HostMount() { ::umount2(target_.c_str(), MNT_DETACH); }
    const std::filesystem::path& path() const { return target_; }

  private:
    std::filesystem::path target_;
};

} // namespace lcloud::test::features

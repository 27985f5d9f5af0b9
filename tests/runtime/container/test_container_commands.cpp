// kill --all, list and state of a stopped container, and process.terminal with
// --console-socket, against lcloud-runtime and crun.
#include "common/fd.hpp"
#include "runtime/container/config_support.hpp"

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <doctest/doctest.h>
#include <fstream>
#include <poll.h>
#include <sstream>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

using namespace lcloud::test;
using namespace lcloud::test::features;
using lcloud::Fd;
namespace fs = std::filesystem;

namespace {

// The receiving end of --console-socket: a listening Unix socket; the runtime connects and
// sends the terminal's master with SCM_RIGHTS.
class ConsoleSocket {
  public:
    ConsoleSocket() : path_(dir_.path() / "console.sock") {
        listener_ = Fd(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
        REQUIRE(listener_);
        sockaddr_un address{};
        address.sun_family = AF_UNIX;
        REQUIRE(path_.string().size() < sizeof address.sun_path);
        std::strcpy(address.sun_path, path_.c_str());
        REQUIRE(::bind(listener_.get(), reinterpret_cast<sockaddr*>(&address), sizeof address) ==
                0);
        REQUIRE(::listen(listener_.get(), 4) == 0);
    }
    const fs::path& path() const { return path_; }

    Fd receive_master() {
        REQUIRE(readable(listener_.get(), 5000));
        const Fd connection(::accept4(listener_.get(), nullptr, nullptr, SOCK_CLOEXEC));
        REQUIRE(connection);
        REQUIRE(readable(connection.get(), 5000));
        char data[256];
        iovec io{data, sizeof data};
        alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int))] = {};
        msghdr message{};
        message.msg_iov = &io;
        message.msg_iovlen = 1;
        message.msg_control = control;
        message.msg_controllen = sizeof control;
        REQUIRE(::recvmsg(connection.get(), &message, MSG_CMSG_CLOEXEC) > 0);
        const cmsghdr* header = CMSG_FIRSTHDR(&message);
        REQUIRE(header != nullptr);
        REQUIRE(header->cmsg_level == SOL_SOCKET);
        REQUIRE(header->cmsg_type == SCM_RIGHTS);
        int fd = -1;
        std::memcpy(&fd, CMSG_DATA(header), sizeof fd);
        return Fd(fd);
    }

    static bool readable(int fd, int timeout_ms) {
        pollfd poll_fd{fd, POLLIN, 0};
        return ::poll(&poll_fd, 1, timeout_ms) > 0;
    }

  private:
    TempDir dir_;
    fs::path path_;
    Fd listener_;
};

// Reads the terminal until `wanted` has arrived, the terminal closes or 5 s pass.
std::string read_until(int master, std::string& seen, const std::string& wanted) {
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
    while (seen.find(wanted) == std::string::npos && std::chrono::steady_clock::now() < deadline) {
        if (!ConsoleSocket::readable(master, 100)) continue;
        char buffer[512];
        const ssize_t count = ::read(master, buffer, sizeof buffer);
        if (count <= 0) break; // EIO once the container's side is closed
        seen.append(buffer, static_cast<size_t>(count));
    }
    return seen;
}

} // namespace

TEST_CASE("config commands: kill --all signals every process, kill only the init") {
    for (const auto& [name, binary] : runtimes_to_compare()) {
        CAPTURE(name);
        RuntimeUnderTest runtime(name, binary);
        BusyboxBundle bundle;
        TempDir log;
        bundle.config["mounts"].push_back(bind_mount(log.path().string(), "/log", {"bind"}));
        // The init has no TERM handler, so TERM from outside its pid namespace never reaches
        // it; its children die of it and it records how.
        bundle.set_args({"sh", "-c",
                         "sleep 1000 & a=$!; sleep 1000 & b=$!; echo > /log/ready; "
                         "wait $a; echo a=$? >> /log/out; wait $b; echo b=$? >> /log/out; "
                         "exec sleep 1000"});
        const auto run = run_detached(runtime, bundle, cid("all"));
        REQUIRE_MESSAGE(run.exit_code == 0, run.output);
        REQUIRE(eventually([&] { return fs::exists(log.path() / "ready"); }));
        const int pid = container_pid(runtime, cid("all"));
        const fs::path procs = host_cgroup_dir(pid, "memory") / "cgroup.procs";
        CHECK(eventually([&] {
            const std::string listed = file_text(procs);
            return std::count(listed.begin(), listed.end(), '\n') == 3;
        }));

        CHECK(runtime.run("kill " + cid("all") + " TERM").exit_code == 0);
        std::this_thread::sleep_for(std::chrono::milliseconds(200));
        CHECK(file_text(log.path() / "out").empty());

        const auto kill_all = runtime.run("kill --all " + cid("all") + " TERM");
        CHECK_MESSAGE(kill_all.exit_code == 0, kill_all.output);
        CHECK(eventually([&] { return file_text(log.path() / "out") == "a=143\nb=143\n"; }));
        CHECK(container_state(runtime, cid("all")).at("status") == "running");
        CHECK(runtime.run("delete --force " + cid("all")).exit_code == 0);
        CHECK(process_gone(pid));
    }
}

TEST_CASE("config commands: list shows each container; a stopped one's state has pid 0") {
    for (const auto& [name, binary] : runtimes_to_compare()) {
        CAPTURE(name);
        RuntimeUnderTest runtime(name, binary);
        BusyboxBundle bundle;
        bundle.set_args({"sleep", "100"});
        const auto run = run_detached(runtime, bundle, cid("listed"));
        REQUIRE_MESSAGE(run.exit_code == 0, run.output);
        const std::string pid = std::to_string(container_pid(runtime, cid("listed")));

        const auto table = runtime.run("list", true);
        REQUIRE_MESSAGE(table.exit_code == 0, table.output);
        std::istringstream lines(table.output);
        std::string header, row;
        std::getline(lines, header);
        std::getline(lines, row);
        std::istringstream words(row);
        std::string id, pid_column, status, bundle_column;
        words >> id >> pid_column >> status >> bundle_column;
        CAPTURE(header);
        for (const char* column : {"PID", "STATUS", "BUNDLE"})
            CHECK(header.find(column) != std::string::npos);
        CHECK(id == cid("listed"));
        CHECK(pid_column == pid);
        CHECK(status == "running");
        CHECK(bundle_column == bundle.path().string());

        const auto json = runtime.run("list --format json", true);
        REQUIRE_MESSAGE(json.exit_code == 0, json.output);
        const auto list = nlohmann::json::parse(json.output);
        REQUIRE(list.size() == 1);
        CHECK(list[0].at("id") == cid("listed"));
        CHECK(std::to_string(list[0].at("pid").get<int>()) == pid);
        CHECK(list[0].at("status") == "running");
        CHECK(list[0].at("bundle") == bundle.path().string());

        CHECK(runtime.run("kill " + cid("listed") + " KILL").exit_code == 0);
        REQUIRE(wait_for_status(runtime, cid("listed"), "stopped"));
        const auto state = container_state(runtime, cid("listed"));
        CHECK(state.at("pid") == 0);
        CHECK(state.at("id") == cid("listed"));
        CHECK(state.at("bundle") == bundle.path().string());
        const auto stopped = nlohmann::json::parse(runtime.run("list --format json", true).output);
        CHECK(stopped[0].at("status") == "stopped");
        CHECK(stopped[0].at("pid") == 0);
        CHECK(runtime.run("delete " + cid("listed")).exit_code == 0);
        CHECK(runtime.run("list -q", true).output.empty());
    }
}

TEST_CASE("config terminal: the console socket gets the master, consoleSize applies") {
    for (const auto& [name, binary] : runtimes_to_compare()) {
        CAPTURE(name);
        RuntimeUnderTest runtime(name, binary);
        BusyboxBundle bundle;
        add_applets(bundle, {"tty", "stty"});
        bundle.config["process"]["terminal"] = true;
        bundle.config["process"]["consoleSize"] = {{"height", 33}, {"width", 111}};
        bundle.set_args({"sh", "-c", "tty; stty size; read line; echo \"got:$line\""});
        bundle.write_config();
        ConsoleSocket console;
        const auto create = runtime.run_detached(
            "create --bundle " + shell_quote(bundle.path().string()) + " --console-socket " +
            shell_quote(console.path().string()) + " " + cid("term"));
        REQUIRE_MESSAGE(create.exit_code == 0, create.output);
        const Fd master = console.receive_master();
        REQUIRE(master);
        CHECK(runtime.run("start " + cid("term")).exit_code == 0);

        std::string seen;
        read_until(master.get(), seen, "33 111\r\n");
        CHECK(seen == "/dev/pts/0\r\n33 111\r\n");
        REQUIRE(::write(master.get(), "hello\n", 6) == 6);
        read_until(master.get(), seen, "got:hello\r\n");
        // The terminal echoes what it was sent.
        CHECK(seen == "/dev/pts/0\r\n33 111\r\nhello\r\ngot:hello\r\n");
        CHECK(wait_for_status(runtime, cid("term"), "stopped"));
        CHECK(runtime.run("delete " + cid("term")).exit_code == 0);
    }
}

#pragma once

#include "support/busybox_bundle.hpp"
#include "support/run_command.hpp"
#include "support/temp_dir.hpp"

#include <fstream>
#include <sstream>
#include <string>
#include <vector>

namespace lcloud::test {

// One OCI runtime binary with a state root of its own; the destructor force-deletes whatever
// containers a failing test left.
inline std::string read_text(const std::filesystem::path& path) {
    std::ifstream in(path);
    std::ostringstream text;
    text << in.rdbuf();
    return text.str();
}

class RuntimeUnderTest {
  public:
    RuntimeUnderTest(std::string name, std::string binary)
        : name_(std::move(name)), binary_(std::move(binary)) {}
    RuntimeUnderTest(const RuntimeUnderTest&) = delete;
    ~RuntimeUnderTest() {
        const auto ids = run_command(command("list -q"), true);
        size_t start = 0;
        while (start < ids.output.size()) {
            const size_t end = ids.output.find('\n', start);
            const std::string id = ids.output.substr(start, end - start);
            if (!id.empty()) run_command(command("delete --force " + id));
            if (end == std::string::npos) break;
            start = end + 1;
        }
    }

    const std::string& name() const { return name_; }
    std::string command(const std::string& arguments) const {
        return "'" + binary_ + "' --root '" + root_.path().string() + "' " + arguments;
    }
    CommandResult run(const std::string& arguments, bool stdout_only = false) const {
        return run_command(command(arguments) + " </dev/null", stdout_only);
    }
    // For create and run --detach: the container inherits our stdio, so its output goes to a
    // file; a pipe would stay open, and the reader wait, for as long as the container runs.
    CommandResult run_detached(const std::string& arguments) const {
        const auto log = root_.path() / "detached.log";
        auto result = run_command(command(arguments) + " </dev/null >'" + log.string() + "'");
        result.output += read_text(log);
        return result;
    }
    CommandResult create(const BusyboxBundle& bundle, const std::string& id) const {
        bundle.write_config();
        return run_detached("create --bundle '" + bundle.path().string() + "' " + id);
    }
    CommandResult run_bundle(const BusyboxBundle& bundle, const std::string& id,
                             bool stdout_only = false) const {
        bundle.write_config();
        return run("run --bundle '" + bundle.path().string() + "' " + id, stdout_only);
    }

  private:
    std::string name_;
    std::string binary_;
    TempDir root_;
};

// lcloud-runtime, and crun when it is installed, to show both behave alike.
inline std::vector<std::pair<std::string, std::string>> runtimes_to_compare() {
    std::vector<std::pair<std::string, std::string>> runtimes = {
        {"lcloud-runtime", LCLOUD_RUNTIME_BINARY}};
    if (run_command("crun --version >/dev/null 2>&1").exit_code == 0 &&
        run_command("test ! -s /sys/fs/cgroup/unified/cgroup.controllers").exit_code == 0)
        runtimes.push_back({"crun", "crun"});
    return runtimes;
}

} // namespace lcloud::test

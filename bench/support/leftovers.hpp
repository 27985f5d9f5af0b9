#pragma once

// What a benchmark may leave on the host (links, nftables tables, cgroups, mounts, processes),
// looked for after it has cleaned up, so that it says so and fails rather than leave them
// unnoticed.

#include "process.hpp"
#include "workdir.hpp"

#include <csignal>
#include <cstdio>
#include <fstream>
#include <iterator>
#include <set>
#include <string>
#include <vector>

namespace lcloud::bench {

// `ip -o link` lines naming any of `names`.
inline std::vector<std::string> links_named(const WorkDir& work,
                                            const std::vector<std::string>& names) {
    std::vector<std::string> found;
    std::istringstream lines(run({"ip", "-o", "link"}, work.options()).output);
    for (std::string line; std::getline(lines, line);)
        for (const auto& name : names)
            if (line.find(" " + name + ":") != std::string::npos ||
                line.find(" " + name + "@") != std::string::npos)
                found.push_back(line.substr(0, line.find(" state ")));
    return found;
}

// `nft list tables`, one "table FAMILY NAME" a line.
inline std::set<std::string> nft_tables(const WorkDir& work) {
    std::set<std::string> tables;
    std::istringstream lines(run({"nft", "list", "tables"}, work.options()).output);
    for (std::string line; std::getline(lines, line);)
        if (!line.empty()) tables.insert(line);
    return tables;
}

// Cgroups named PREFIX* under PARENT in every hierarchy (v1 controllers and the unified one).
inline std::vector<std::string> cgroups_named(const std::string& parent,
                                              const std::string& prefix) {
    std::vector<std::string> found;
    std::error_code error;
    for (const auto& hierarchy : fs::directory_iterator("/sys/fs/cgroup", error)) {
        std::error_code inner;
        for (const auto& cgroup : fs::directory_iterator(hierarchy.path() / parent, inner))
            if (cgroup.is_directory() && cgroup.path().filename().string().rfind(prefix, 0) == 0)
                found.push_back(cgroup.path().string());
    }
    return found;
}

// Names of what a run may create on the host, to compare before and after it: links (lcloud's
// lcbr-/lcv, CNI's), nftables tables, the cgroups lcloud and podman make, network namespaces,
// CNI's address leases and caches, and processes whose command line names `work`.
inline std::set<std::string> host_state(const WorkDir& work) {
    std::set<std::string> state;
    std::istringstream lines(run({"ip", "-o", "link"}, work.options()).output);
    for (std::string line; std::getline(lines, line);) {
        const auto start = line.find(": ") + 2;
        const std::string name = line.substr(start, line.find_first_of(":@", start) - start);
        for (const char* prefix : {"lc", "cni", "veth"})
            if (name.rfind(prefix, 0) == 0) state.insert("link " + name);
    }
    for (const auto& table : nft_tables(work))
        state.insert("nftables " + table);
    for (const char* parent : {"lcloud-agent", "lcloud", "libpod_parent"})
        for (const auto& cgroup : cgroups_named(parent, ""))
            state.insert("cgroup " + cgroup);
    for (const char* dir : {"/run/netns", "/var/lib/cni/networks", "/var/lib/cni/results",
                            "/run/containers/cni/dnsname"}) {
        std::error_code error;
        for (const auto& entry : fs::directory_iterator(dir, error))
            state.insert("file " + entry.path().string());
    }
    std::error_code error;
    for (const auto& entry : fs::directory_iterator("/proc", error)) {
        std::ifstream file(entry.path() / "cmdline");
        std::string cmdline((std::istreambuf_iterator<char>(file)), {});
        for (char& c : cmdline)
            if (c == '\0') c = ' ';
        if (cmdline.find(work.path().string()) != std::string::npos &&
            entry.path().filename() != std::to_string(::getpid()))
            state.insert("process " + entry.path().filename().string() + " " + cmdline);
    }
    return state;
}

// Collects what was left and prints the verdict; ok() is false when anything was.
class Leftovers {
  public:
    void add(const std::string& what, const std::vector<std::string>& items) {
        for (const auto& item : items)
            found_.push_back(what + ": " + item);
    }
    // What `after` has that `before` had not.
    void add_new(const std::set<std::string>& before, const std::set<std::string>& after) {
        for (const auto& item : after)
            if (!before.count(item)) found_.push_back(item + " (new since the run began)");
    }
    void add_if(bool left, const std::string& what) {
        if (left) found_.push_back(what);
    }
    void process_gone(int pid, const std::string& what) {
        add_if(pid > 0 && ::kill(pid, 0) == 0, what + " (pid " + std::to_string(pid) + ")");
    }
    bool report(const char* looked_for = "container, process, mount, link, nftables table or "
                                         "cgroup") const {
        if (found_.empty()) {
            std::printf("left behind: nothing (no %s of this run)\n", looked_for);
            return true;
        }
        std::printf("left behind:\n");
        for (const auto& item : found_)
            std::printf("  %s\n", item.c_str());
        return false;
    }

  private:
    std::vector<std::string> found_;
};

} // namespace lcloud::bench

#pragma once

// libvirt for the VM benchmark: the daemons and the `default` network it needs, and what a VM
// can leave behind (domains, volumes, DHCP reservations, qemu processes), found through virsh
// and /proc.

#include "process.hpp"
#include "workdir.hpp"

#include <fstream>
#include <iterator>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

namespace lcloud::bench {

inline std::vector<std::string> output_lines(const std::string& text) {
    std::vector<std::string> lines;
    std::istringstream stream(text);
    for (std::string line; std::getline(stream, line);)
        if (!line.empty()) lines.push_back(line);
    return lines;
}

inline bool starts_with_any(const std::string& text, const std::vector<std::string>& prefixes) {
    for (const auto& prefix : prefixes)
        if (text.rfind(prefix, 0) == 0) return true;
    return false;
}

// Process ids whose command line names `name` (not ours).
inline std::vector<int> processes_naming(const std::string& name) {
    std::vector<int> found;
    std::error_code error;
    for (const auto& entry : fs::directory_iterator("/proc", error)) {
        const std::string pid = entry.path().filename().string();
        if (pid.find_first_not_of("0123456789") != std::string::npos) continue;
        if (pid == std::to_string(::getpid())) continue;
        std::ifstream file(entry.path() / "cmdline");
        std::string cmdline((std::istreambuf_iterator<char>(file)), {});
        for (char& c : cmdline)
            if (c == '\0') c = ' ';
        if (cmdline.find(name) != std::string::npos) found.push_back(std::stoi(pid));
    }
    return found;
}

// Starts libvirtd (and virtlogd) when it does not run, as scripts/dev does without systemd, and
// activates the `default` network (Vagrant's management network; lcloud activates it itself).
inline void ensure_libvirt(const WorkDir& work) {
    if (run({"pgrep", "-x", "libvirtd"}, work.options()).exit_code != 0) {
        std::printf("setup: libvirtd is not running; starting virtlogd and libvirtd\n");
        fs::create_directories("/run/libvirt");
        if (run({"pgrep", "-x", "virtlogd"}, work.options()).exit_code != 0)
            run_checked({"virtlogd", "-d"}, work.options());
        run_checked({"libvirtd", "-d"}, work.options());
        const auto deadline = Clock::now() + std::chrono::seconds(30);
        while (run({"virsh", "-q", "version"}, work.options()).exit_code != 0) {
            if (Clock::now() > deadline) throw std::runtime_error("libvirtd does not answer");
            std::this_thread::sleep_for(std::chrono::milliseconds(200));
        }
    }
    const auto info = run_checked({"virsh", "net-info", "default"}, work.options()).output;
    std::istringstream lines(info);
    for (std::string line; std::getline(lines, line);)
        if (line.rfind("Active:", 0) == 0 && line.find("yes") == std::string::npos) {
            std::printf("setup: starting libvirt's network default\n");
            run_checked({"virsh", "net-start", "default"}, work.options());
        }
}

// What is on the host of the VMs named PREFIX*: domains (any state), volumes in the given
// pools, DHCP reservations in the `default` and `lcloud` networks, qemu processes.
inline std::vector<std::string> vm_traces(const WorkDir& work,
                                          const std::vector<std::string>& prefixes,
                                          const std::vector<std::string>& pools) {
    std::vector<std::string> found;
    for (const auto& domain :
         output_lines(run({"virsh", "list", "--all", "--name"}, work.options()).output))
        if (starts_with_any(domain, prefixes)) found.push_back("libvirt domain " + domain);
    for (const auto& pool : pools) {
        const auto listed = run({"virsh", "-q", "vol-list", pool}, work.options());
        if (listed.exit_code != 0) continue; // no such pool: nothing in it
        for (const auto& line : output_lines(listed.output)) {
            const std::string volume = line.substr(line.find_first_not_of(' '));
            if (starts_with_any(volume, prefixes))
                found.push_back("volume " + pool + "/" + volume.substr(0, volume.find(' ')));
        }
    }
    for (const char* network : {"default", "lcloud"})
        for (const auto& line :
             output_lines(run({"virsh", "net-dumpxml", network}, work.options()).output))
            for (const auto& prefix : prefixes)
                if (line.find("<host ") != std::string::npos &&
                    line.find("name='" + prefix) != std::string::npos)
                    found.push_back(std::string("DHCP reservation in network ") + network + ":" +
                                    line);
    for (const auto& prefix : prefixes)
        for (const int pid : processes_naming("guest=" + prefix))
            found.push_back("qemu process " + std::to_string(pid) + " of " + prefix + "*");
    return found;
}

// The domain's type as libvirt defined it: "qemu" (TCG) or "kvm".
inline std::string domain_type(const WorkDir& work, const std::string& domain) {
    const auto xml = run_checked({"virsh", "dumpxml", domain}, work.options()).output;
    const auto at = xml.find("<domain type='");
    if (at == std::string::npos) return "?";
    return xml.substr(at + 14, xml.find('\'', at + 14) - at - 14);
}

} // namespace lcloud::bench

#pragma once

// What the VM tests share: the box (built once from this build's lcloud-agent and init, kept in
// a data directory of the tests' own), and a project whose VM is destroyed when the test ends,
// pass or fail.

#include "box/box_build.hpp"
#include "box/guest_init.hpp"
#include "providers/libvirt/boot_checkpoint.hpp"
#include "providers/libvirt/connection.hpp"
#include "providers/libvirt/guest_network.hpp"
#include "providers/libvirt/image_cache.hpp"
#include "providers/libvirt/libvirt_machine.hpp"
#include "providers/libvirt/storage.hpp"
#include "providers/libvirt/xml.hpp"
#include "runtime/image/sha256.hpp"

#include "support/run_command.hpp"
#include "support/temp_dir.hpp"

#include <cstdlib>
#include <doctest/doctest.h>
#include <fcntl.h>
#include <fmt/format.h>
#include <fstream>
#include <iostream>
#include <sys/file.h>
#include <unistd.h>

namespace lcloud::test {

// Boxes are a cache, as images are: kept between test runs, rebuilt when the init or the
// kernel's flags changed. A changed lcloud-agent needs no new box: `up` gives the VM an image
// of this build's agent (cached beside the boxes, under agents/).
// LCLOUD_TEST_DATA_HOME moves it, for work trees whose agents differ.
inline const std::filesystem::path vm_test_data_home = [] {
    const char* moved = std::getenv("LCLOUD_TEST_DATA_HOME");
    return std::filesystem::path(moved && *moved ? moved : "/var/tmp/lcloud-test-data");
}();

inline box::Box use_test_box() {
    namespace fs = std::filesystem;
    ::setenv("XDG_DATA_HOME", vm_test_data_home.c_str(), 1);
    fs::create_directories(vm_test_data_home);
    const int lock =
        ::open((vm_test_data_home / ".lock").c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    ::flock(lock, LOCK_EX);
    const auto init_digest = runtime::image::sha256_digest(box::guest_init);
    auto current = box::find_box(box::default_box);
    if (!current || current->manifest.value("init_sha256", "") != init_digest ||
        current->cmdline() != box::kernel_cmdline()) {
        for (const auto& old : box::list_boxes())
            if (old.name == box::default_box) box::remove_box(old);
        box::BuildOptions options;
        options.agent = LCLOUD_AGENT_BINARY;
        current = box::build_box(
            options, [](const std::string& line) { std::cerr << "[box] " << line << '\n'; });
    }
    ::close(lock);
    return *current;
}

// A project directory with lcloud.yaml for provider libvirt and a small VM. Without
// `containers`, one container `idle` whose image is built in the VM from busybox alone (FROM
// scratch: it needs no base image), which stops at once on SIGTERM.
class VmProject {
  public:
    explicit VmProject(const std::string& vm_extra = "", const std::string& top_extra = "",
                       std::string containers = "") {
        name_ = "vmtest";
        if (containers.empty()) {
            write_idle_context("idle");
            containers = "  idle:\n    build: ./idle\n";
        }
        std::ofstream(dir() / "lcloud.yaml")
            << fmt::format("name: {}\nprovider: libvirt\nvm:\n  cpus: 1\n  memory: 512MiB\n  disk: "
                           "2GiB\n{}{}containers:\n{}",
                           name_, vm_extra, top_extra, containers);
        domain_ = providers::libvirt::domain_name_for(name_, dir());
    }
    // A copy of an existing project directory (an example), named `name` in its file.
    struct CopyOf {
        std::filesystem::path source;
    };
    VmProject(const CopyOf& copy, const std::string& name) : name_(name) {
        namespace fs = std::filesystem;
        fs::copy(copy.source, dir(), fs::copy_options::recursive);
        fs::remove_all(dir() / ".lcloud");
        domain_ = providers::libvirt::domain_name_for(name_, dir());
    }
    ~VmProject() {
        // --images: a test keeps no image cache.
        run_command(fmt::format("{} -q -C {} destroy --images", LCLOUD_BINARY, dir().string()));
        force_remove();
    }
    VmProject(const VmProject&) = delete;
    VmProject& operator=(const VmProject&) = delete;

    const std::filesystem::path& dir() const { return temp_.path(); }

    // A build context `dir()/sub` of the image of `idle`: busybox alone, FROM scratch.
    void write_idle_context(const std::string& sub) const {
        namespace fs = std::filesystem;
        fs::create_directories(dir() / sub);
        fs::copy_file("/bin/busybox", dir() / sub / "busybox");
        std::ofstream(dir() / sub / "Containerfile")
            << "FROM scratch\nCOPY busybox /bin/busybox\n"
               "CMD [\"/bin/busybox\", \"sh\", \"-c\", \"trap 'exit 0' TERM; while :; do "
               "/bin/busybox sleep 60 & wait; done\"]\n";
    }
    const std::string& domain() const { return domain_; }

    CommandResult lcloud(const std::string& args) const {
        return run_command(fmt::format("{} -C {} {}", LCLOUD_BINARY, dir().string(), args));
    }
    // One command in the guest; its stdout only.
    CommandResult ssh(const std::string& command) const {
        return run_command(
            fmt::format("{} -C {} ssh -- '{}' </dev/null", LCLOUD_BINARY, dir().string(), command),
            true);
    }

    // What is left of the VM: its domain, volumes, address reservation, qemu process, files.
    std::vector<std::string> leftovers() const {
        namespace lv = providers::libvirt;
        std::vector<std::string> left;
        auto connection = lv::connect("qemu:///system");
        if (lv::DomainHandle(virDomainLookupByName(connection.get(), domain_.c_str())))
            left.push_back("domain " + domain_);
        for (const auto& volume : lv::volumes_with_prefix(connection.get(), domain_ + "-"))
            left.push_back("volume " + volume);
        lv::NetworkHandle network(virNetworkLookupByName(connection.get(), lv::network_name));
        if (network) {
            lv::OwnedString xml(virNetworkGetXMLDesc(network.get(), 0));
            if (!lv::xml_select(
                     xml.get(),
                     fmt::format("/network/ip/dhcp/host[@mac='{}']", lv::mac_for(domain_)),
                     "default")
                     .empty())
                left.push_back("reservation for " + lv::mac_for(domain_));
        }
        // lcloud's network goes with the last VM on it.
        virDomainPtr* domains = nullptr;
        const int count = virConnectListAllDomains(connection.get(), &domains, 0);
        bool other_vms = false;
        for (int i = 0; i < count; ++i) {
            lv::DomainHandle domain(domains[i]);
            other_vms |= std::string(virDomainGetName(domain.get())).starts_with("lcloud-");
        }
        ::free(domains);
        if (!other_vms &&
            lv::NetworkHandle(virNetworkLookupByName(connection.get(), lv::network_name)))
            left.push_back(std::string("libvirt network ") + lv::network_name);
        // A checkpoint stays only beside the image cache that destroy keeps for the next up.
        std::vector<std::filesystem::path> checkpoint_files{
            std::filesystem::path(lv::checkpoint_file(domain_).string() + ".partial")};
        if (!std::filesystem::exists(lv::image_cache_file(domain_)))
            checkpoint_files.push_back(lv::checkpoint_file(domain_));
        for (const auto& file : checkpoint_files)
            if (std::filesystem::exists(file)) left.push_back("boot checkpoint " + file.string());
        if (run_command("pgrep -f 'forwar[d] --state " + (dir() / ".lcloud").string() + "'")
                .exit_code == 0)
            left.push_back("port forwarder of " + dir().string());
        if (run_command("pgrep -f 'gues[t]=" + domain_ + "'").exit_code == 0)
            left.push_back("qemu process of " + domain_);
        for (const char* file : {"id_ed25519", "id_ed25519.pub", "known_hosts", "machine.json",
                                 "console.log", "builds.json"})
            if (std::filesystem::exists(dir() / ".lcloud" / file))
                left.push_back(std::string(".lcloud/") + file);
        return left;
    }

  private:
    // The safety net when the test failed before destroy could run.
    void force_remove() const {
        namespace lv = providers::libvirt;
        try {
            auto connection = lv::connect("qemu:///system");
            if (lv::DomainHandle domain{virDomainLookupByName(connection.get(), domain_.c_str())}) {
                virDomainDestroy(domain.get());
                virDomainUndefineFlags(domain.get(), VIR_DOMAIN_UNDEFINE_MANAGED_SAVE |
                                                         VIR_DOMAIN_UNDEFINE_SNAPSHOTS_METADATA);
            }
            for (const auto& volume : lv::volumes_with_prefix(connection.get(), domain_ + "-"))
                lv::delete_volume(connection.get(), volume);
            lv::release_address(connection.get(), lv::network_name, lv::mac_for(domain_));
            lv::remove_network_if_unused(connection.get());
            std::error_code ignored;
            std::filesystem::remove(lv::image_cache_file(domain_), ignored);
            lv::remove_checkpoint(domain_);
        } catch (const std::exception& error) {
            std::cerr << "cleaning up " << domain_ << ": " << error.what() << '\n';
        }
    }

    TempDir temp_;
    std::string name_;
    std::string domain_;
};

inline std::string trimmed(std::string text) {
    while (!text.empty() && (text.back() == '\n' || text.back() == '\r' || text.back() == ' '))
        text.pop_back();
    return text;
}

} // namespace lcloud::test

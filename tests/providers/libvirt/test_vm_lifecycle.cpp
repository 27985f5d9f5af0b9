// The VM as a user drives it, with the real lcloud, libvirt and QEMU (TCG here): box, up, ssh,
// shared folders both ways, halt and up, suspend and resume, snapshots, destroy.
#include "providers/libvirt/vm_fixture.hpp"

#include <chrono>
#include <ctime>
#include <set>
#include <sys/stat.h>

using namespace lcloud;
using namespace lcloud::test;
namespace fs = std::filesystem;

TEST_CASE("vm: up, ssh, shared folders, halt, suspend, snapshots and destroy") {
    const auto box = use_test_box();
    const std::string folders = "shared_folders:\n"
                                "  - host: ./share\n    guest: /lcloud/share\n"
                                "  - host: ./docs\n    guest: /lcloud/docs\n    readonly: true\n";
    VmProject project("", folders);
    fs::create_directories(project.dir() / "share");
    fs::create_directories(project.dir() / "docs");
    std::ofstream(project.dir() / "share" / "from-host.txt") << "written on the host\n";
    std::ofstream(project.dir() / "docs" / "readme.txt") << "read only\n";

    const auto up = project.lcloud("up");
    INFO(up.output);
    REQUIRE(up.exit_code == 0);
    CHECK(up.output.find("is ready") != std::string::npos);

    // The guest runs the box's kernel, and the key and the pinned host key are private.
    CHECK(trimmed(project.ssh("uname -r").output) ==
          box.manifest["kernel"]["release"].get<std::string>());
    // lcloud-agent runs in the guest, from the box's agent disk.
    CHECK(project.ssh("lcloud-agent version").output.starts_with("lcloud-agent "));
    struct stat info {};
    REQUIRE(::stat((project.dir() / ".lcloud" / "id_ed25519").c_str(), &info) == 0);
    CHECK((info.st_mode & 0777) == 0600);
    std::ifstream known_hosts(project.dir() / ".lcloud" / "known_hosts");
    std::string pinned;
    std::getline(known_hosts, pinned);
    CHECK(pinned.find("ssh-ed25519 ") != std::string::npos);

    // Shared folders: the host's file is read in the guest, the guest's file on the host.
    CHECK(trimmed(project.ssh("cat /lcloud/share/from-host.txt").output) == "written on the host");
    REQUIRE(project.ssh("echo written in the guest > /lcloud/share/from-guest.txt").exit_code == 0);
    std::ifstream from_guest(project.dir() / "share" / "from-guest.txt");
    std::string line;
    std::getline(from_guest, line);
    CHECK(line == "written in the guest");
    REQUIRE(::stat((project.dir() / "share" / "from-guest.txt").c_str(), &info) == 0);
    CHECK(info.st_uid == ::getuid());
    CHECK(trimmed(project.ssh("cat /lcloud/docs/readme.txt").output) == "read only");
    CHECK(project.ssh("touch /lcloud/docs/new.txt").exit_code != 0);
    CHECK_FALSE(fs::exists(project.dir() / "docs" / "new.txt"));

    // `lcloud ssh` on a terminal: the guest's shell gets one, and its exit code comes back.
    const auto shell = run_command(fmt::format("printf '[ -t 0 ] && echo term$((1+1))inal; echo "
                                               "$((6*7)); exit 3\\n' | script -qec '{} -C {} "
                                               "ssh' /dev/null",
                                               LCLOUD_BINARY, project.dir().string()));
    INFO(shell.output);
    CHECK(shell.exit_code == 3);
    CHECK(shell.output.find("term2inal") != std::string::npos);
    CHECK(shell.output.find("42") != std::string::npos);

    const auto status = project.lcloud("--json status");
    REQUIRE(status.exit_code == 0);
    const auto status_json = nlohmann::json::parse(status.output);
    CHECK(status_json["state"] == "running");
    CHECK(status_json["driver"] == "qemu");
    const std::string address = status_json["address"];
    const auto config = project.lcloud("ssh-config");
    CHECK(config.output.find("HostName " + address) != std::string::npos);
    CHECK(config.output.find("StrictHostKeyChecking yes") != std::string::npos);

    // The first boot saved a boot checkpoint; halt, then up restores it (twice): the data disk
    // keeps what was written on it, the clock is today's, and no two restores share their
    // randomness.
    CHECK(up.output.find("saving the boot checkpoint") != std::string::npos);
    CHECK(fs::exists(providers::libvirt::checkpoint_file(project.domain())));
    REQUIRE(project.ssh("echo kept > /var/lib/lcloud/marker && sync").exit_code == 0);
    std::set<std::string> boot_ids{project.ssh("cat /proc/sys/kernel/random/boot_id").output};
    for (int round = 0; round < 2; ++round) {
        // Right after up: the power button must be heard at once, not after halt's timeout.
        const auto halt = project.lcloud("halt --timeout 20");
        INFO(halt.output);
        REQUIRE(halt.exit_code == 0);
        CHECK(halt.output.find("forcing it off") == std::string::npos);
        CHECK(nlohmann::json::parse(project.lcloud("--json status").output)["state"] == "halted");
        const auto again = project.lcloud("up");
        INFO(again.output);
        REQUIRE(again.exit_code == 0);
        CHECK(again.output.find("from its boot checkpoint") != std::string::npos);
        CHECK(trimmed(project.ssh("cat /var/lib/lcloud/marker").output) == "kept");
        CHECK(trimmed(project.ssh("cat /lcloud/share/from-host.txt").output) ==
              "written on the host");
        const long guest_clock = std::stol(project.ssh("date +%s").output);
        CHECK(std::abs(guest_clock - static_cast<long>(::time(nullptr))) < 10);
        boot_ids.insert(project.ssh("cat /proc/sys/kernel/random/boot_id").output);
    }
    CHECK(boot_ids.size() == 3);

    // suspend, then resume: the same boot goes on, and the shares are back.
    const auto boot_id = project.ssh("cat /proc/sys/kernel/random/boot_id").output;
    const auto suspend = project.lcloud("suspend");
    INFO(suspend.output);
    REQUIRE(suspend.exit_code == 0);
    CHECK(nlohmann::json::parse(project.lcloud("--json status").output)["state"] == "suspended");
    const auto resume = project.lcloud("resume");
    INFO(resume.output);
    REQUIRE(resume.exit_code == 0);
    CHECK(project.ssh("cat /proc/sys/kernel/random/boot_id").output == boot_id);
    CHECK(trimmed(project.ssh("cat /lcloud/share/from-host.txt").output) == "written on the host");

    // A snapshot brings back a file deleted after it was taken.
    REQUIRE(project.ssh("echo before > /var/lib/lcloud/snap.txt && sync").exit_code == 0);
    const auto save = project.lcloud("snapshot save first");
    INFO(save.output);
    REQUIRE(save.exit_code == 0);
    REQUIRE(project.ssh("rm /var/lib/lcloud/snap.txt").exit_code == 0);
    CHECK(trimmed(project.lcloud("snapshot list").output) == "first");
    const auto restore = project.lcloud("snapshot restore first");
    INFO(restore.output);
    REQUIRE(restore.exit_code == 0);
    CHECK(trimmed(project.ssh("cat /var/lib/lcloud/snap.txt").output) == "before");
    REQUIRE(project.lcloud("snapshot delete first").exit_code == 0);
    CHECK(trimmed(project.lcloud("snapshot list").output).empty());

    // destroy leaves nothing: no domain, volume, reservation, process or key.
    const auto destroy = project.lcloud("destroy");
    INFO(destroy.output);
    REQUIRE(destroy.exit_code == 0);
    CHECK(destroy.output.find("removed VM " + project.domain()) != std::string::npos);
    CHECK(project.leftovers().empty());
    CHECK(nlohmann::json::parse(project.lcloud("--json status").output)["state"] == "not created");
}

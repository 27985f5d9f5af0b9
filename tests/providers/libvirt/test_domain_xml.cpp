// The domain XML lcloud defines, read back with the same XPath helper the provider uses.
#include "providers/libvirt/boot_checkpoint.hpp"
#include "providers/libvirt/connection.hpp"
#include "providers/libvirt/console_watch.hpp"
#include "providers/libvirt/domain_xml.hpp"
#include "providers/libvirt/errors.hpp"
#include "providers/libvirt/guest_network.hpp"
#include "providers/libvirt/libvirt_machine.hpp"
#include "providers/libvirt/xml.hpp"
#include "state/atomic_file.hpp"

#include "support/temp_dir.hpp"

#include <doctest/doctest.h>

using namespace lcloud;
using namespace lcloud::providers::libvirt;
using namespace lcloud::test;

TEST_CASE(
    "libvirt: the domain boots the box's kernel, shares folders by 9p, and logs its console") {
    DomainSpec spec;
    spec.name = "lcloud-demo-12345678";
    spec.uuid = "6c71ee82-3352-44e4-94f0-a2ccbf314ccd";
    spec.memory_bytes = 512ull << 20;
    spec.cpus = 1;
    spec.kernel = "/boxes/base/1/vmlinux";
    spec.initrd = "/boxes/base/1/initrd.cpio";
    spec.cmdline = "console=ttyS0 lcloud.ip=192.168.122.150/24";
    spec.data_disk = "/pool/data.qcow2";
    spec.mac = "52:54:00:aa:bb:cc";
    spec.shares = {{"lcloud0", "/home/me/project/src & <more>", true}, {"lcloud1", "/srv", false}};
    spec.console_log = "/home/me/project/.lcloud/console.log";
    spec.uid = 1000;
    spec.gid = 1000;
    const auto xml = domain_xml(spec);
    auto one = [&](const std::string& path) {
        const auto values = xml_select(xml, path, "the test domain");
        REQUIRE(values.size() == 1);
        return values.front();
    };
    CHECK(one("/domain/@type") == "qemu");
    CHECK(one("/domain/uuid") == spec.uuid);
    CHECK(one("/domain/memory") == "524288");
    CHECK(one("/domain/os/kernel") == "/boxes/base/1/vmlinux");
    CHECK(one("/domain/os/cmdline") == spec.cmdline);
    CHECK(one("/domain/devices/disk/source/@file") == "/pool/data.qcow2");
    CHECK(one("/domain/devices/interface/mac/@address") == spec.mac);
    CHECK(one("/domain/devices/interface/rom/@enabled") == "no");
    CHECK(one("/domain/devices/filesystem[target/@dir='lcloud0']/source/@dir") ==
          "/home/me/project/src & <more>");
    CHECK(
        xml_select(xml, "/domain/devices/filesystem[target/@dir='lcloud0']/readonly", "").size() ==
        1);
    CHECK(
        xml_select(xml, "/domain/devices/filesystem[target/@dir='lcloud1']/readonly", "").empty());
    CHECK(one("/domain/devices/filesystem[1]/@accessmode") == "mapped");
    CHECK(one("/domain/devices/serial/log/@file") == spec.console_log);
    CHECK(one("/domain/devices/serial/@type") == "pty");
    spec.console_socket = "/run/lcloud/consoles/lcloud-demo-12345678.sock";
    const auto with_socket = domain_xml(spec);
    CHECK(xml_select(with_socket, "/domain/devices/serial/@type", "") ==
          std::vector<std::string>{"unix"});
    CHECK(xml_select(with_socket, "/domain/devices/serial/source/@path", "") ==
          std::vector<std::string>{spec.console_socket.string()});
    CHECK(xml_select(with_socket, "/domain/devices/serial/source/@mode", "") ==
          std::vector<std::string>{"bind"});
    CHECK(xml_select(with_socket, "/domain/devices/serial/log/@file", "") ==
          std::vector<std::string>{spec.console_log.string()});
    CHECK(one("/domain/seclabel/label") == "+1000:+1000");

    spec.root_disk = "/pool/root.qcow2";
    spec.kernel.reset();
    spec.type = "kvm";
    const auto disk_box = domain_xml(spec);
    CHECK(xml_select(disk_box, "/domain/devices/disk/source/@file", "") ==
          std::vector<std::string>{"/pool/root.qcow2", "/pool/data.qcow2"});
    CHECK(xml_select(disk_box, "/domain/os/boot/@dev", "") == std::vector<std::string>{"hd"});
    CHECK(xml_select(disk_box, "/domain/cpu/@mode", "") ==
          std::vector<std::string>{"host-passthrough"});
}

TEST_CASE("libvirt: names, MACs and the console's readiness report") {
    const auto first = domain_name_for("shop", "/home/a/shop");
    CHECK(first.starts_with("lcloud-shop-"));
    CHECK(first.size() == std::string("lcloud-shop-").size() + 8);
    CHECK(domain_name_for("shop", "/home/b/shop") != first);
    CHECK(domain_name_for("shop", "/home/a/shop") == first);
    CHECK(domain_name_for("my shop!", "/x").starts_with("lcloud-my-shop--"));
    CHECK(mac_for(first).starts_with("52:54:00:"));
    CHECK(mac_for(first) == mac_for(first));
    CHECK(mac_for(first).size() == 17);

    TempDir dir;
    const auto log = dir.path() / "console.log";
    CHECK_FALSE(ready_report(log));
    state::write_file_atomic(log,
                             "[    1.0] booting\r\nLCLOUD-HOSTKEY ssh-ed25519 AAAAkey root@x\r\n");
    CHECK_FALSE(ready_report(log));
    // Half written: the uptime is still to come.
    state::write_file_atomic(log,
                             "[    1.0] booting\r\nLCLOUD-HOSTKEY ssh-ed25519 AAAAkey root@x\r\n"
                             "LCLOUD-READY uptime=");
    CHECK_FALSE(ready_report(log));
    state::write_file_atomic(log,
                             "[    1.0] booting\r\nLCLOUD-HOSTKEY ssh-ed25519 AAAAkey root@x\r\n"
                             "LCLOUD-READY uptime=4.50\r\n");
    const auto report = ready_report(log);
    REQUIRE(report);
    CHECK(report->host_key == "ssh-ed25519 AAAAkey root@x");
    CHECK(report->uptime == "4.50");
    const auto tail = last_lines(log, 2);
    CHECK(tail.find("  | LCLOUD-READY uptime=4.50\n") != std::string::npos);
    CHECK(tail.find("booting") == std::string::npos);
}

TEST_CASE("libvirt: a checkpoint's saved definition loses its disks' backing chains") {
    const std::string saved =
        "<domain><devices>"
        "<disk type='file'><source file='/p/data.qcow2' index='2'/>"
        "<backingStore type='file' index='3'><format type='qcow2'/>"
        "<source file='/c/cache.qcow2'/><backingStore/></backingStore>"
        "<target dev='vdb'/></disk>"
        "<disk type='file'><source file='/p/agent.img' index='1'/><backingStore/>"
        "<target dev='vdc'/></disk>"
        "</devices></domain>";
    CHECK(without_backing_chains(saved) ==
          "<domain><devices>"
          "<disk type='file'><source file='/p/data.qcow2' index='2'/><target dev='vdb'/></disk>"
          "<disk type='file'><source file='/p/agent.img' index='1'/><target dev='vdc'/></disk>"
          "</devices></domain>");
    CHECK(without_backing_chains("<domain/>") == "<domain/>");
}

TEST_CASE("libvirt: an unreachable libvirtd is one line that says what to run") {
    CHECK_THROWS_WITH_AS(connect("qemu+unix:///system?socket=/nonexistent/libvirt-sock"),
                         doctest::Contains("libvirtd -d"), LibvirtUnavailable);
}

#include "providers/libvirt/domain_xml.hpp"

#include "providers/libvirt/xml.hpp"

#include <fmt/format.h>

namespace lcloud::providers::libvirt {

std::string domain_xml(const DomainSpec& spec) {
    std::string xml;
    auto line = [&xml](const std::string& text) { xml += text + "\n"; };
    line(fmt::format("<domain type='{}'>", spec.type));
    line(fmt::format("  <name>{}</name>", xml_escape(spec.name)));
    if (!spec.uuid.empty()) line(fmt::format("  <uuid>{}</uuid>", spec.uuid));
    // A new generation ID at every restore of a saved state (the boot checkpoint): the guest's
    // kernel reseeds its random generator on the change.
    line("  <genid/>");
    line("  <metadata><lcloud:environment xmlns:lcloud='https://lcloud.dev/xmlns/environment/1' "
         "project='" +
         xml_escape(spec.project_dir) + "'/></metadata>");
    line(fmt::format("  <memory unit='KiB'>{}</memory>", spec.memory_bytes / 1024));
    line(fmt::format("  <vcpu>{}</vcpu>", spec.cpus));
    line("  <os>");
    line("    <type arch='x86_64' machine='pc'>hvm</type>");
    if (spec.kernel) {
        line(fmt::format("    <kernel>{}</kernel>", xml_escape(spec.kernel->string())));
        if (spec.initrd)
            line(fmt::format("    <initrd>{}</initrd>", xml_escape(spec.initrd->string())));
        line(fmt::format("    <cmdline>{}</cmdline>", xml_escape(spec.cmdline)));
    } else {
        line("    <boot dev='hd'/>");
    }
    line("  </os>");
    line("  <features><acpi/></features>");
    if (spec.type == "kvm") line("  <cpu mode='host-passthrough'/>");
    // qemu runs as the user who runs lcloud: it reads the box under their home and writes the
    // shared folders as them, with no relabelling of their files.
    line(fmt::format("  <seclabel type='static' model='dac' relabel='no'><label>+{}:+{}</label>"
                     "</seclabel>",
                     spec.uid, spec.gid));
    line("  <on_poweroff>destroy</on_poweroff>");
    line("  <on_reboot>restart</on_reboot>");
    line("  <on_crash>destroy</on_crash>");
    line("  <devices>");
    // The guest's init finds its disks by serial, whatever their order.
    char disk_letter = 'a';
    auto disk = [&](const std::filesystem::path& path, const char* format, const char* serial,
                    bool readonly) {
        line(fmt::format("    <disk type='file' device='disk'><driver name='qemu' type='{}'{}/>"
                         "<source file='{}'/><target dev='vd{}' bus='virtio'/>{}<serial>{}</serial>"
                         "</disk>",
                         format, readonly ? "" : " discard='unmap'", xml_escape(path.string()),
                         disk_letter++, readonly ? "<readonly/>" : "", serial));
    };
    if (spec.root_disk) disk(*spec.root_disk, "qcow2", "lcloud-root", false);
    disk(spec.data_disk, "qcow2", "lcloud-data", false);
    if (spec.agent_disk) disk(*spec.agent_disk, "raw", "lcloud-agent", true);
    // No option ROM: iPXE would cost a second of firmware time under TCG for nothing.
    line(fmt::format("    <interface type='network'><source network='{}'/><mac address='{}'/>"
                     "<model type='virtio'/><rom enabled='no'/></interface>",
                     xml_escape(spec.network), spec.mac));
    for (const auto& share : spec.shares) {
        line(fmt::format("    <filesystem type='mount' accessmode='mapped'><source dir='{}'/>"
                         "<target dir='{}'/>{}</filesystem>",
                         xml_escape(share.host.string()), xml_escape(share.tag),
                         share.readonly ? "<readonly/>" : ""));
    }
    // A socket rather than a pty: QEMU reads a pty only once it notices the other end open, which
    // it checks once a second, and the "go" line of a restored boot checkpoint would wait for it.
    const auto source = spec.console_socket.empty()
                            ? std::string()
                            : fmt::format("<source mode='bind' path='{}'/>",
                                          xml_escape(spec.console_socket.string()));
    const char* type = spec.console_socket.empty() ? "pty" : "unix";
    line(fmt::format(
        "    <serial type='{}'>{}<log file='{}' append='off'/><target port='0'/></serial>", type,
        source, xml_escape(spec.console_log.string())));
    line(fmt::format("    <console type='{}'>{}<target type='serial' port='0'/></console>", type,
                     source));
    line("    <rng model='virtio'><backend model='random'>/dev/urandom</backend></rng>");
    line("    <memballoon model='none'/>");
    // No USB controller: nothing uses it, and the kernel's USB hand-off quirk costs 0.2 s.
    line("    <controller type='usb' model='none'/>");
    line("  </devices>");
    line("</domain>");
    return xml;
}

} // namespace lcloud::providers::libvirt

#include "box/box_build.hpp"

#include "box/agent_image.hpp"
#include "box/errors.hpp"
#include "box/guest_init.hpp"
#include "box/initramfs.hpp"
#include "box/staging_dir.hpp"
#include "common/command.hpp"
#include "runtime/image/sha256.hpp"
#include "state/atomic_file.hpp"

#include <cstdlib>
#include <fmt/format.h>
#include <unistd.h>

namespace lcloud::box {

namespace fs = std::filesystem;

namespace {

// What the init loads at boot, and what containers make the kernel load on demand (overlay,
// bridges, veths, nftables); modules.alias lets busybox's modprobe answer those requests.
const std::vector<std::string> boot_modules{
    "virtio_pci",     "virtio_net", "virtio_blk", "virtio_rng",   "ext4",
    "crc32c_generic", "button",     "evdev",      "9pnet_virtio", "9p",
    "overlay",        "bridge",     "veth",       "br_netfilter"};
const std::vector<std::string> module_dirs{"net/netfilter", "net/ipv4/netfilter",
                                           "net/ipv6/netfilter", "net/bridge/netfilter"};

void write_text(const fs::path& path, std::string_view text, mode_t mode = 0644) {
    fs::create_directories(path.parent_path());
    state::write_file_atomic(path, text, mode, state::Durability::killed_writer);
}

void lay_out_root(const fs::path& root, const BuildOptions& options) {
    for (const char* dir : {"bin", "sbin", "usr/bin", "usr/sbin", "etc", "dev", "proc", "sys",
                            "tmp", "run", "root", "var/lib/lcloud", "var/log", "mnt"})
        fs::create_directories(root / dir);
    fs::permissions(root / "tmp", fs::perms::all | fs::perms::sticky_bit);
    copy_program(options.dropbear, root, "/usr/sbin/dropbear");
    copy_program("/usr/bin/dropbearkey", root, "/usr/bin/dropbearkey");
    copy_program("/sbin/mke2fs", root, "/sbin/mke2fs");
    // lcloud-agent and its 50 MB of libraries live on a disk image of their own (agent.img),
    // mounted after the guest is ready: unpacking them with the initramfs cost every boot 0.4 s.
    write_text(root / "usr/bin/lcloud-agent",
               std::string("#!/bin/sh\nexec ") + agent_mount +
                   "/lib64/ld-linux-x86-64.so.2 --library-path " + agent_mount +
                   "/lib/x86_64-linux-gnu " + agent_mount + "/usr/bin/lcloud-agent \"$@\"\n",
               0755);
    copy_program(options.busybox, root, "/bin/busybox");
    const auto applets =
        run_program_checked({options.busybox, "--list-full"}, "listing busybox's applets");
    std::istringstream lines(applets);
    for (std::string applet; std::getline(lines, applet);) {
        const auto link = root / applet;
        std::error_code error;
        if (applet.empty() || fs::exists(fs::symlink_status(link, error))) continue;
        fs::create_directories(link.parent_path());
        fs::create_symlink("/bin/busybox", link);
    }
    write_text(root / "etc/passwd", "root:x:0:0:root:/root:/bin/sh\n");
    write_text(root / "etc/group", "root:x:0:\ntty:x:5:\n");
    write_text(root / "etc/shadow", "root:*:19000:0:99999:7:::\n", 0600);
    write_text(root / "etc/shells", "/bin/sh\n/bin/ash\n");
    write_text(root / "etc/nsswitch.conf", "passwd: files\ngroup: files\nhosts: files dns\n");
    write_text(root / "etc/hosts", "127.0.0.1 localhost\n");
    write_text(root / "etc/profile",
               "export PATH=/usr/sbin:/usr/bin:/sbin:/bin\nexport HOME=${HOME:-/root}\n");
    write_text(root / "init", guest_init, 0755);
}

} // namespace

// Kernel flags for a fast, quiet boot under TCG: no console chatter (a serial port costs),
// no probing for a keyboard and mouse the VM lacks, no speculative-execution mitigations in a
// throwaway guest. The provider adds the machine's own lcloud.* flags.
std::string kernel_cmdline() {
    return "console=ttyS0 quiet loglevel=1 panic=-1 mitigations=off tsc=reliable no_timer_check "
           "i8042.noaux i8042.nokbd i8042.nopnp cryptomgr.notests "
           // Half a second of a key-derivation self-test, and kprobe tracing, neither of use here.
           "initcall_blacklist=crypto_kdf108_init,init_kprobe_trace "
           // Routing PCI interrupts through ACPI costs 0.4 s of AML under TCG; the virtio
           // devices use MSI-X anyway. Making the kernel's text read-only costs 0.2 s, and buys
           // little in a throwaway VM.
           "acpi=noirq rodata=off";
}

fs::path default_package_cache() {
    if (const char* cache = std::getenv("XDG_CACHE_HOME"); cache && *cache)
        return fs::path(cache) / "lcloud" / "packages";
    const char* home = std::getenv("HOME");
    return fs::path(home && *home ? home : "/root") / ".cache" / "lcloud" / "packages";
}

Box build_box(const BuildOptions& options, const Progress& progress) {
    check_box_name(options.name);
    StagingDir work("build");
    const auto staged = work.path() / "box";
    const auto root = work.path() / "root";
    fs::create_directories(staged);

    const auto kernel = fetch_kernel(
        options.cache.empty() ? default_package_cache() : options.cache, work.path(), progress);
    progress("decompressing the kernel");
    extract_vmlinux(kernel.bz_image, staged / "vmlinux");

    progress("assembling the initramfs: busybox, dropbear, lcloud-agent and the modules");
    lay_out_root(root, options);
    auto wanted = boot_modules;
    for (auto& name : modules_under(kernel, module_dirs))
        wanted.push_back(std::move(name));
    const auto modules = module_closure(kernel, wanted);
    const auto module_root = root / "lib" / "modules" / kernel.release;
    for (const auto& module : modules) {
        fs::create_directories((module_root / module).parent_path());
        fs::copy_file(kernel.modules / module, module_root / module);
    }
    for (const char* file : {"modules.order", "modules.builtin", "modules.builtin.modinfo"})
        if (fs::exists(kernel.modules / file))
            fs::copy_file(kernel.modules / file, module_root / file);
    run_program_checked({"depmod", "-b", root.string(), kernel.release},
                        "depmod over the box's modules");
    write_cpio(root, staged / "initrd.cpio");
    make_agent_image(options.agent, work.path() / "agent", staged / "agent.img");

    const auto version = new_version();
    nlohmann::json manifest{
        {"name", options.name},
        {"version", version},
        {"kind", "initramfs"},
        {"kernel",
         {{"release", kernel.release},
          {"package", kernel.package},
          {"package_version", kernel.package_version}}},
        {"agent", agent_version_line(options.agent)},
        {"agent_sha256", agent_digest(options.agent)},
        {"init_sha256", runtime::image::sha256_digest(guest_init)},
        {"modules", modules.size()},
        {"cmdline", kernel_cmdline()},
    };
    describe_files(manifest, staged,
                   {{"kernel", "vmlinux"}, {"initrd", "initrd.cpio"}, {"agent", "agent.img"}});
    write_text(staged / "manifest.json", manifest.dump(2) + "\n");
    fs::remove_all(root);
    fs::remove_all(work.path() / "agent");
    auto box = install_box(staged, options.name, version);
    return box;
}

} // namespace lcloud::box

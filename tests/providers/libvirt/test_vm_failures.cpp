// The VM when things go wrong: lcloud killed in the middle of up, and a box that never becomes
// ready, which must fail within its timeout and say why.
#include "providers/libvirt/vm_fixture.hpp"

#include "box/initramfs.hpp"
#include "state/atomic_file.hpp"

#include <chrono>
#include <csignal>
#include <random>
#include <sys/wait.h>
#include <thread>

using namespace lcloud;
using namespace lcloud::test;
namespace fs = std::filesystem;
using namespace std::chrono_literals;

TEST_CASE("vm: lcloud killed at a random moment of up, then up again, converges") {
    use_test_box();
    VmProject project;
    std::random_device random;
    // The first kill lands while libvirtd is still starting the domain (paused, "starting up"),
    // the second anywhere in the boot of the VM the first up left.
    for (const auto delay : {std::chrono::milliseconds(300 + random() % 700),
                             std::chrono::milliseconds(200 + random() % 4000)}) {
        MESSAGE("killing lcloud up after " << delay.count() << " ms");
        const pid_t child = ::fork();
        REQUIRE(child >= 0);
        if (child == 0) {
            ::execl(LCLOUD_BINARY, LCLOUD_BINARY, "-q", "-C", project.dir().c_str(), "up", nullptr);
            ::_exit(127);
        }
        std::this_thread::sleep_for(delay);
        ::kill(child, SIGKILL);
        int status = 0;
        ::waitpid(child, &status, 0);

        const auto up = project.lcloud("up");
        INFO(up.output);
        REQUIRE(up.exit_code == 0);
        CHECK(trimmed(project.ssh("echo converged").output) == "converged");
        REQUIRE(project.lcloud("destroy").exit_code == 0);
        CHECK(project.leftovers().empty());
    }
}

TEST_CASE("vm: a box whose init never starts SSH fails within its timeout, with a diagnosis") {
    const auto base = use_test_box();
    // The same kernel, and an init that says one line and then waits forever.
    TempDir work;
    const auto staged = work.path() / "box";
    const auto root = work.path() / "root";
    fs::create_directories(staged);
    fs::create_directories(root / "bin");
    fs::create_directories(root / "dev");
    fs::copy_file("/bin/busybox", root / "bin" / "busybox");
    state::write_file_atomic(root / "init",
                             "#!/bin/busybox sh\n/bin/busybox mount -t devtmpfs dev /dev\n"
                             "echo 'silent box: no ssh here' > /dev/ttyS0\n"
                             "exec /bin/busybox sleep 100000\n",
                             0755);
    box::write_cpio(root, staged / "initrd.cpio");
    fs::copy_file(*base.file("kernel"), staged / "vmlinux");
    nlohmann::json manifest{{"name", "test/silent"},
                            {"version", "1"},
                            {"kind", "initramfs"},
                            {"cmdline", base.cmdline()}};
    box::describe_files(manifest, staged, {{"kernel", "vmlinux"}, {"initrd", "initrd.cpio"}});
    state::write_file_atomic(staged / "manifest.json", manifest.dump());
    if (auto old = box::find_box("test/silent")) box::remove_box(*old);
    const auto silent = box::install_box(staged, "test/silent", "1");
    struct RemoveBox {
        box::Box box;
        ~RemoveBox() { box::remove_box(box); }
    } remove_box{silent};

    VmProject project("  box: test/silent\n  boot_timeout: 20s\n");
    const auto started = std::chrono::steady_clock::now();
    const auto up = project.lcloud("up");
    const auto took = std::chrono::steady_clock::now() - started;
    INFO(up.output);
    CHECK(up.exit_code != 0);
    CHECK(took < 60s);
    CHECK(up.output.find("did not become ready within 20 s") != std::string::npos);
    CHECK(up.output.find("domain state: running") != std::string::npos);
    CHECK(up.output.find("reserved for") != std::string::npos);
    CHECK(up.output.find("silent box: no ssh here") != std::string::npos);
    REQUIRE(project.lcloud("destroy").exit_code == 0);
    CHECK(project.leftovers().empty());
}

TEST_CASE("vm: a boot checkpoint serves only its own definition, and a broken one is replaced") {
    use_test_box();
    VmProject project;
    REQUIRE(project.lcloud("up").exit_code == 0);
    REQUIRE(project.lcloud("halt").exit_code == 0);
    const auto checkpoint = providers::libvirt::checkpoint_file(project.domain());
    REQUIRE(fs::exists(checkpoint));

    // More memory is another machine: it boots afresh and takes a new checkpoint.
    std::string file = *state::read_file(project.dir() / "lcloud.yaml");
    file.replace(file.find("memory: 512MiB"), 14, "memory: 640MiB");
    state::write_file_atomic(project.dir() / "lcloud.yaml", file);
    const auto changed = project.lcloud("up");
    INFO(changed.output);
    REQUIRE(changed.exit_code == 0);
    CHECK(changed.output.find("from its boot checkpoint") == std::string::npos);
    CHECK(changed.output.find("saving the boot checkpoint") != std::string::npos);
    // MemTotal of 640 MiB less the kernel's share is still more than all of 512 MiB.
    const auto meminfo = project.ssh("head -n 1 /proc/meminfo").output;
    INFO(meminfo);
    CHECK(std::stol(meminfo.substr(meminfo.find_first_of("0123456789"))) > 512 * 1024);
    REQUIRE(project.lcloud("halt").exit_code == 0);

    // A checkpoint file that no longer reads: one warning, a fresh boot, a new checkpoint.
    state::write_file_atomic(checkpoint, "not a saved VM");
    const auto broken = project.lcloud("up");
    INFO(broken.output);
    REQUIRE(broken.exit_code == 0);
    CHECK(broken.output.find("does not restore") != std::string::npos);
    CHECK(broken.output.find("saving the boot checkpoint") != std::string::npos);
    CHECK(trimmed(project.ssh("echo booted").output) == "booted");

    REQUIRE(project.lcloud("destroy").exit_code == 0);
    CHECK(project.leftovers().empty());
}

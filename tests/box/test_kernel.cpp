// The kernel's preparation: the vmlinux inside a bzImage, and the closure of modules.dep.
#include "box/errors.hpp"
#include "box/kernel.hpp"

#include "support/run_command.hpp"
#include "support/temp_dir.hpp"

#include <doctest/doctest.h>
#include <fstream>
#include <sstream>

using namespace lcloud;
using namespace lcloud::test;
namespace fs = std::filesystem;

TEST_CASE("box: the ELF kernel is taken out of the compressed payload of a bzImage") {
    TempDir dir;
    // A stand-in bzImage: a setup header, the xz payload, then a trailer.
    const std::string elf = std::string("\x7f"
                                        "ELF",
                                        4) +
                            std::string(5000, 'k');
    std::ofstream(dir.path() / "payload") << elf;
    REQUIRE(run_command("xz -k -9 " + (dir.path() / "payload").string()).exit_code == 0);
    std::ifstream xz(dir.path() / "payload.xz", std::ios::binary);
    std::stringstream compressed;
    compressed << xz.rdbuf();
    std::ofstream(dir.path() / "bzImage", std::ios::binary)
        << std::string(20000, '\x55') << compressed.str() << std::string(16, '\0');

    box::extract_vmlinux(dir.path() / "bzImage", dir.path() / "vmlinux");
    std::ifstream out(dir.path() / "vmlinux", std::ios::binary);
    std::stringstream text;
    text << out.rdbuf();
    CHECK(text.str() == elf);

    std::ofstream(dir.path() / "plain") << std::string(4096, 'x');
    CHECK_THROWS_WITH_AS(box::extract_vmlinux(dir.path() / "plain", dir.path() / "v2"),
                         doctest::Contains("no xz, zstd or gzip payload"), box::BoxError);
}

TEST_CASE("box: the modules the box wants come with everything they depend on") {
    TempDir dir;
    box::KernelTree kernel;
    kernel.release = "6.1.0-test";
    kernel.root = dir.path();
    kernel.modules = dir.path() / "lib/modules/6.1.0-test";
    fs::create_directories(kernel.modules / "kernel/fs/9p");
    std::ofstream(kernel.modules / "kernel/fs/9p/9p.ko") << "";
    std::ofstream(kernel.modules / "modules.dep")
        << "kernel/fs/9p/9p.ko: kernel/net/9p/9pnet.ko kernel/fs/netfs/netfs.ko\n"
           "kernel/net/9p/9pnet_virtio.ko: kernel/net/9p/9pnet.ko kernel/drivers/virtio/virtio.ko\n"
           "kernel/net/9p/9pnet.ko:\n"
           "kernel/fs/netfs/netfs.ko:\n"
           "kernel/drivers/virtio/virtio.ko:\n"
           "kernel/net/bridge/br-netfilter.ko: kernel/net/bridge/bridge.ko\n"
           "kernel/net/bridge/bridge.ko:\n";
    const auto closure = box::module_closure(kernel, {"9p", "9pnet_virtio", "br_netfilter"});
    CHECK(closure == std::vector<std::string>{
                         "kernel/drivers/virtio/virtio.ko", "kernel/fs/9p/9p.ko",
                         "kernel/fs/netfs/netfs.ko", "kernel/net/9p/9pnet.ko",
                         "kernel/net/9p/9pnet_virtio.ko", "kernel/net/bridge/br-netfilter.ko",
                         "kernel/net/bridge/bridge.ko"});
    CHECK(box::modules_under(kernel, {"fs/9p"}) == std::vector<std::string>{"9p"});
    CHECK_THROWS_WITH_AS(box::module_closure(kernel, {"no_such_module"}),
                         doctest::Contains("has no module no_such_module"), box::BoxError);
}

// A disk box (a Vagrant libvirt .box) boots from a copy-on-write overlay of its disk, and
// `box remove` refuses while a VM uses it, then takes the overlays with it.
#include "providers/libvirt/vm_fixture.hpp"

#include "box/box_add.hpp"

using namespace lcloud;
using namespace lcloud::test;
namespace fs = std::filesystem;

TEST_CASE("vm: a Vagrant disk box boots from an overlay, and box remove is refused while used") {
    const auto base = use_test_box();
    // A .box holding lcloud's kernel and initrd and an empty disk: its VM runs lcloud's init.
    TempDir work;
    const auto content = work.path() / "content";
    fs::create_directories(content);
    std::ofstream(content / "metadata.json") << R"({"provider":"libvirt","format":"qcow2"})";
    REQUIRE(run_command("qemu-img create -q -f qcow2 " + (content / "box.img").string() + " 1G")
                .exit_code == 0);
    fs::create_hard_link(*base.file("kernel"), content / "kernel");
    fs::create_hard_link(*base.file("initrd"), content / "initrd");
    const auto file = work.path() / "disk.box";
    REQUIRE(run_command("tar -C " + content.string() + " -cf " + file.string() +
                        " metadata.json box.img kernel initrd")
                .exit_code == 0);
    const auto add =
        run_command(fmt::format("{} box add --name test/disk {}", LCLOUD_BINARY, file.string()));
    INFO(add.output);
    REQUIRE(add.exit_code == 0);
    const auto added = box::find_box("test/disk");
    REQUIRE(added);
    struct RemoveBox {
        ~RemoveBox() {
            if (auto left = box::find_box("test/disk")) box::remove_box(*left);
        }
    } remove_box;

    VmProject project("  box: test/disk\n");
    const auto up = project.lcloud("up");
    INFO(up.output);
    // This box has no lcloud-agent: the VM boots, and up says that its containers cannot start.
    // (Installing the agent into such a box is issue 6's step 3, still to come.)
    REQUIRE(up.output.find("is ready") != std::string::npos);
    CHECK(up.output.find("the agent in the VM") != std::string::npos);
    CHECK(trimmed(project.ssh("echo on the overlay").output) == "on the overlay");
    // The root disk is an overlay of box.img, never a copy; the data disk is the second disk.
    auto connection = providers::libvirt::connect("qemu:///system");
    CHECK(providers::libvirt::volumes_backed_by(connection.get(), *added->file("disk")) ==
          std::vector<std::string>{project.domain() + "-root.qcow2"});
    CHECK(project.ssh("grep -c /dev/vdb /proc/mounts").output.starts_with("1"));

    const auto refused = run_command(fmt::format("{} box remove test/disk", LCLOUD_BINARY));
    CHECK(refused.exit_code != 0);
    CHECK(refused.output.find("is used by " + project.domain()) != std::string::npos);
    REQUIRE(project.lcloud("destroy").exit_code == 0);
    CHECK(project.leftovers().empty());
    const auto removed = run_command(fmt::format("{} box remove test/disk", LCLOUD_BINARY));
    INFO(removed.output);
    CHECK(removed.exit_code == 0);
    CHECK_FALSE(box::find_box("test/disk"));
}

// A VM whose box carries another lcloud-agent than the one in use: `up` of a running VM says
// so, `reload` boots it with ours from a cached image (a new boot checkpoint, since the domain
// changed), the VM runs exactly that program, and a container runs under it.
#include "providers/libvirt/vm_fixture.hpp"

#include "box/agent_image.hpp"
#include "state/atomic_file.hpp"
#include "support/env_guard.hpp"

#include <nlohmann/json.hpp>

using namespace lcloud;
using namespace lcloud::test;
namespace fs = std::filesystem;

namespace {

nlohmann::json machine_record(const VmProject& project) {
    return nlohmann::json::parse(
        state::read_file(project.dir() / ".lcloud" / "machine.json").value_or("{}"));
}

// sha256sum's hex of the agent the VM runs.
std::string guest_agent_hex(const VmProject& project) {
    const auto sum = project.ssh("sha256sum /opt/lcloud/usr/bin/lcloud-agent");
    INFO(sum.output);
    REQUIRE(sum.exit_code == 0);
    return sum.output.substr(0, sum.output.find(' '));
}

} // namespace

TEST_CASE("vm: an agent other than the box's is installed by reload, and up warns until then") {
    const auto box = use_test_box();
    // Another agent: this build's, with a section of its own. Stripped of its debug sections
    // beforehand, as the agent's disk is, so that the VM's copy is this very file.
    TempDir work;
    const auto agent = work.path() / "lcloud-agent";
    std::ofstream(work.path() / "mark") << "vm: agent test\n";
    const auto made = run_command(
        fmt::format("objcopy --strip-debug --add-section .lcloud_test={} {} {}",
                    (work.path() / "mark").string(), LCLOUD_AGENT_BINARY, agent.string()));
    INFO(made.output);
    REQUIRE(made.exit_code == 0);
    const auto digest = box::file_digest(agent);
    REQUIRE(digest != box.manifest.value("agent_sha256", ""));
    const auto ours = "sha256:" + digest.substr(7, 12);

    VmProject project;
    const auto first = project.lcloud("up");
    INFO(first.output);
    REQUIRE(first.exit_code == 0);
    const auto first_checkpoint = machine_record(project).value("checkpoint", "");
    CHECK_FALSE(first_checkpoint.empty());

    {
        const EnvGuard other("LCLOUD_AGENT_BINARY", agent.string());
        // Running, the VM keeps its agent; one line says which and what installs ours.
        const auto again = project.lcloud("up");
        INFO(again.output);
        REQUIRE(again.exit_code == 0);
        CHECK(again.output.find("warning: the VM runs lcloud-agent") != std::string::npos);
        CHECK(again.output.find(ours + "; 'lcloud reload' installs it") != std::string::npos);
        CHECK(again.output.find("booting") == std::string::npos);

        const auto reload = project.lcloud("reload");
        INFO(reload.output);
        REQUIRE(reload.exit_code == 0);
        CHECK(reload.output.find("installing lcloud-agent 0.") != std::string::npos);
        CHECK(reload.output.find(ours + " into the VM (the box has ") != std::string::npos);
        // The domain changed (another agent disk): a fresh boot and a new checkpoint.
        CHECK(reload.output.find("from its boot checkpoint") == std::string::npos);
        CHECK(reload.output.find("saving the boot checkpoint") != std::string::npos);
        const auto record = machine_record(project);
        CHECK(record.value("agent_sha256", "") == digest);
        CHECK(record.value("checkpoint", "") != first_checkpoint);
        CHECK_FALSE(record.value("checkpoint", "").empty());
        CHECK(fs::exists(box::agent_image_path(digest)));
        CHECK(guest_agent_hex(project) == digest.substr(7));

        // Now the VM runs ours: no warning, and the container runs under it.
        const auto up = project.lcloud("up");
        INFO(up.output);
        REQUIRE(up.exit_code == 0);
        CHECK(up.output.find("warning: the VM runs") == std::string::npos);
        const auto ps = project.lcloud("ps");
        INFO(ps.output);
        REQUIRE(ps.exit_code == 0);
        CHECK(ps.output.find("idle") != std::string::npos);
        CHECK(ps.output.find("running") != std::string::npos);

        // The new checkpoint serves the next start, with the same agent.
        const auto restored = project.lcloud("reload");
        INFO(restored.output);
        REQUIRE(restored.exit_code == 0);
        CHECK(restored.output.find("from its boot checkpoint") != std::string::npos);
        CHECK(restored.output.find("does not restore") == std::string::npos);
        CHECK(guest_agent_hex(project) == digest.substr(7));
    }

    const auto destroyed = project.lcloud("destroy");
    INFO(destroyed.output);
    REQUIRE(destroyed.exit_code == 0);
    CHECK(project.leftovers().empty());
    // The image stays, as boxes do: a cache, pruned at the next install; nothing half-made.
    for (const auto& entry : fs::directory_iterator(box::agents_root()))
        CHECK_FALSE(entry.path().filename().string().starts_with(".tmp-"));
}

// The warning `up` prints for a running VM whose agent is not this lcloud's (no VM needed: it
// reads .lcloud/machine.json as up wrote it).
#include "providers/libvirt/agent_disk.hpp"

#include "box/box_store.hpp"

#include "support/env_guard.hpp"
#include "support/temp_dir.hpp"

#include <doctest/doctest.h>
#include <fstream>

using namespace lcloud;
using namespace lcloud::test;
namespace lv = lcloud::providers::libvirt;

TEST_CASE("libvirt: up warns when the running VM's agent is not this lcloud's") {
    TempDir data;
    EnvGuard xdg("XDG_DATA_HOME", data.path().string());
    const auto agent = data.path() / "lcloud-agent";
    std::ofstream(agent) << "#!/bin/sh\necho 'lcloud-agent 9.9.9 (protocol 1)'\n";
    std::filesystem::permissions(agent, std::filesystem::perms::owner_all);
    const auto digest = box::file_digest(agent);
    const std::string other = "sha256:" + std::string(64, 'b');

    CHECK_FALSE(lv::running_agent_warning({{"agent_sha256", digest}}, agent).has_value());
    // A VM booted before machine.json named its agent, or no agent here: nothing to compare.
    CHECK_FALSE(lv::running_agent_warning(nlohmann::json::object(), agent).has_value());
    CHECK_FALSE(
        lv::running_agent_warning({{"agent_sha256", other}}, data.path() / "missing").has_value());
    CHECK_FALSE(lv::running_agent_warning({{"agent_sha256", other}}, "").has_value());

    const auto warning = lv::running_agent_warning(
        {{"agent_sha256", other}, {"agent", "0.1.0 (protocol 1) sha256:bbbbbbbbbbbb"}}, agent);
    REQUIRE(warning.has_value());
    CHECK(*warning == "warning: the VM runs lcloud-agent 0.1.0 (protocol 1) sha256:bbbbbbbbbbbb, "
                      "not this lcloud's 9.9.9 (protocol 1) sha256:" +
                          digest.substr(7, 12) +
                          "; 'lcloud reload' installs it (and restarts the containers)");
    // Without the description, the digest alone names it.
    CHECK(lv::running_agent_warning({{"agent_sha256", other}}, agent)
              ->find("runs lcloud-agent (version unknown) sha256:bbbbbbbbbbbb,") !=
          std::string::npos);
}

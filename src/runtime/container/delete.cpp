#include "common/error.hpp"
#include "runtime/cgroups/cgroup.hpp"
#include "runtime/container/commands.hpp"
#include "runtime/container/hooks.hpp"
#include "runtime/oci/config_parse.hpp"

#include <csignal>
#include <fmt/format.h>
#include <iostream>

namespace lcloud::runtime {

void delete_container(const StateStore& store, const std::string& id, bool force,
                      const oci::Config* config) {
    const ContainerState state = store.load(id);
    const Status status = store.status(state);
    // A created container has run nothing of its own yet; runc and crun delete it unasked.
    if (status == Status::running && !force)
        throw Error(fmt::format("cannot delete container {}: it is running; stop it first or use "
                                "delete --force",
                                id));
    if (status != Status::stopped) ::kill(state.pid, SIGKILL);
    if (!state.cgroup_paths.empty()) {
        // Kills whatever still runs (with --force) and removes the cgroup in every hierarchy.
        cgroups::Cgroup::open(state.cgroup_paths).remove();
    }
    const std::string state_json = store.state_json(state);
    store.remove(id);
    // The container is gone either way; the spec makes poststop failures warnings, and the
    // remaining hooks still run.
    std::vector<std::string> failures;
    try {
        const auto& hooks = config ? config->hooks : oci::load_config(state.bundle).hooks;
        failures = run_hooks_warning_on_failure(hooks.poststop, "poststop", state_json);
    } catch (const Error& error) {
        failures.push_back(error.what());
    }
    for (const auto& failure : failures)
        std::cerr << "lcloud-runtime: warning: container " << id << ": " << failure << '\n';
}

} // namespace lcloud::runtime

#include "agent/agent.hpp"

#include "agent/ports/port_forwarder.hpp"
#include "agent/protocol/protocol.hpp"
#include "agent/server/session.hpp"
#include "agent/server/streams.hpp"
#include "agent/server/wait.hpp"
#include "runtime/image/build/bootstrap.hpp"
#include "runtime/image/build/build.hpp"
#include "runtime/image/store.hpp"
#include "runtime/network/network.hpp"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

namespace lcloud::agent {

namespace fs = std::filesystem;
namespace image = runtime::image;

namespace {

nlohmann::json image_summary_json(const image::ImageSummary& summary) {
    return {{"reference", summary.reference.str()},
            {"id", summary.id},
            {"created", summary.created},
            {"size", summary.size}};
}

std::string required(const nlohmann::json& params, const char* key, const std::string& method) {
    const auto found = params.find(key);
    if (found == params.end() || !found->is_string() || found->get<std::string>().empty())
        throw AgentError("protocol", fmt::format("{} needs \"{}\"", method, key));
    return found->get<std::string>();
}

} // namespace

nlohmann::json Agent::handle(Session& session, int64_t id, const std::string& method,
                             const nlohmann::json& params) {
    Supervisor& supervisor = *supervisor_;
    // Images.
    if (method == "image.list") {
        nlohmann::json out = nlohmann::json::array();
        for (const auto& summary : images_->list())
            out.push_back(image_summary_json(summary));
        return out;
    }
    if (method == "image.inspect") {
        const auto details = images_->inspect(required(params, "name", method));
        nlohmann::json references = nlohmann::json::array();
        for (const auto& reference : details.references)
            references.push_back(reference.str());
        return {{"id", details.id},
                {"references", references},
                {"layers", details.layers.size()},
                {"env", details.config.env},
                {"cmd", details.config.cmd.value_or(std::vector<std::string>{})},
                {"entrypoint", details.config.entrypoint.value_or(std::vector<std::string>{})},
                {"working_dir", details.config.working_dir},
                {"user", details.config.user},
                {"exposed_ports", details.config.exposed_ports},
                {"labels", details.config.labels}};
    }
    if (method == "image.import") {
        const fs::path path = required(params, "path", method);
        std::optional<image::Reference> rootfs;
        std::optional<image::Reference> name;
        if (params.contains("rootfs"))
            rootfs = image::parse_reference(params.at("rootfs").get<std::string>());
        if (params.contains("name"))
            name = image::parse_reference(params.at("name").get<std::string>());
        // Unpacking a big archive takes long: in a child, as builds do.
        start_job(
            session, id, "import of " + path.string(),
            [this, path, rootfs, name](const auto&) -> nlohmann::json {
                nlohmann::json out = nlohmann::json::array();
                if (rootfs) {
                    const auto imported = images_->import_rootfs(path, *rootfs);
                    out.push_back({{"reference", imported.reference.str()}, {"id", imported.id}});
                    return out;
                }
                for (const auto& imported : images_->import_archive(path, name))
                    out.push_back({{"reference", imported.reference.str()}, {"id", imported.id}});
                return out;
            });
        return nullptr;
    }
    if (method == "image.tag") {
        images_->tag(required(params, "source", method),
                     image::parse_reference(required(params, "target", method)));
        return nlohmann::json::object();
    }
    if (method == "image.rm") {
        const auto result =
            images_->remove(required(params, "name", method), [this](std::string_view image_id) {
                for (const auto& status : supervisor_->list())
                    if (status.image_id == image_id) return true;
                return false;
            });
        nlohmann::json untagged = nlohmann::json::array();
        for (const auto& reference : result.untagged)
            untagged.push_back(reference.str());
        return {{"untagged", untagged}, {"deleted", result.deleted}};
    }
    if (method == "image.prune") {
        const auto result = images_->prune();
        return {{"deleted", result.deleted}, {"bytes_freed", result.bytes_freed}};
    }
    if (method == "image.save") {
        const std::string name = required(params, "name", method);
        const std::string output = required(params, "output", method);
        start_job(session, id, "save of " + name, [this, name, output](const auto&) {
            images_->save(name, output);
            return nlohmann::json::object();
        });
        return nullptr;
    }
    if (method == "image.build") {
        image::build::BuildOptions options;
        options.context = required(params, "context", method);
        options.tag = required(params, "tag", method);
        options.containerfile = params.value("containerfile", "");
        options.build_args = params.value("build_args", std::map<std::string, std::string>{});
        options.network = params.value("network", false);
        options.no_cache = params.value("no_cache", false);
        if (!options.context.is_absolute())
            throw AgentError("protocol", "image.build needs an absolute \"context\"");
        start_job(session, id, "build of " + options.tag,
                  [this, options](const auto& progress) -> nlohmann::json {
                      const auto built = image::build::build_image(*images_, options, progress);
                      return {{"reference", built.reference.str()},
                              {"id", built.image_id},
                              {"steps", built.steps},
                              {"cache_hits", built.cache_hits},
                              {"containers_run", built.containers_run},
                              {"layers_created", built.layers_created}};
                  });
        return nullptr;
    }
    if (method == "image.bootstrap") {
        image::build::BootstrapOptions options;
        options.tag = required(params, "tag", method);
        options.suite = params.value("suite", options.suite);
        options.include = params.value("include", std::vector<std::string>{});
        options.mirror = params.value("mirror", "");
        start_job(session, id, "bootstrap of " + options.tag,
                  [this, options](const auto& progress) -> nlohmann::json {
                      const auto made = image::build::bootstrap_image(*images_, options, progress);
                      return {{"reference", made.reference.str()}, {"id", made.id}};
                  });
        return nullptr;
    }
    // Containers.
    if (method == "container.create")
        return supervisor.create(params.at("spec").get<ContainerSpec>());
    if (method == "container.start") {
        supervisor.start(required(params, "id", method));
        return supervisor.status(params.at("id").get<std::string>());
    }
    if (method == "container.stop" || method == "container.rm") {
        const std::string container = required(params, "id", method);
        // The session may have left by the time the container has stopped.
        auto done = [this, &session, id, container, method] {
            if (!sessions_.count(&session)) return;
            nlohmann::json result = {{"id", container}};
            if (method == "container.stop") result = supervisor_->status(container);
            session.respond(id, result);
            check_idle();
        };
        if (method == "container.stop")
            supervisor.stop(container, done);
        else
            supervisor.remove(container, done);
        return nullptr;
    }
    if (method == "container.list") return supervisor.list(params.value("environment", ""));
    if (method == "container.inspect") return supervisor.status(required(params, "id", method));
    if (method == "container.logs") {
        const std::string container = required(params, "id", method);
        start_log_stream(session, id, supervisor, loop_, container,
                         params.value("tail", int64_t{-1}), params.value("follow", false));
        return nullptr;
    }
    if (method == "container.exec") {
        start_exec(session, id, supervisor, loop_, required(params, "id", method), params);
        return nullptr;
    }
    if (method == "container.wait") {
        start_wait(session, id, supervisor, loop_, params);
        return nullptr;
    }
    if (method == "events.subscribe") {
        start_event_stream(session, id, supervisor, params.value("environment", ""));
        return nullptr;
    }
    // Networks, volumes, ports, environments.
    if (method == "network.list") {
        nlohmann::json out = nlohmann::json::array();
        for (const auto& network : networks_->list())
            out.push_back({{"name", network.name},
                           {"bridge", network.bridge},
                           {"subnet", network.subnet.to_string()}});
        return out;
    }
    if (method == "network.ensure") {
        const auto network = networks_->ensure(required(params, "name", method));
        return {{"name", network.name},
                {"bridge", network.bridge},
                {"subnet", network.subnet.to_string()}};
    }
    if (method == "ports.check") {
        std::vector<Forward> forwards;
        for (const auto& port : params.at("ports"))
            forwards.push_back(Forward{
                port.value("protocol", "tcp") == "udp" ? Protocol::udp : Protocol::tcp,
                port.value("host_ip", "127.0.0.1"), port.at("host_port").get<uint16_t>(), "", 0});
        return {{"unavailable", unavailable_ports(forwards)}};
    }
    if (method == "volume.list") {
        nlohmann::json out = nlohmann::json::array();
        if (fs::exists(supervisor.paths().volumes()))
            for (const auto& entry : fs::directory_iterator(supervisor.paths().volumes()))
                out.push_back(entry.path().filename().string());
        return out;
    }
    if (method == "environment.halt")
        return halt_environment(session, id, required(params, "environment", method));
    if (method == "environment.destroy")
        return destroy_environment(session, id, required(params, "environment", method),
                                   params.value("keep_network", false));
    if (method == "shares.detach") {
        std::vector<ContainerStatus> running;
        for (auto& status : supervisor.list())
            if (status.state == "running") running.push_back(std::move(status));
        auto detached = detach_shares(running);
        nlohmann::json out = nlohmann::json::array();
        for (const auto& share : detached)
            out.push_back({{"container", share.container}, {"target", share.target}});
        detached_shares_.insert(detached_shares_.end(), detached.begin(), detached.end());
        return {{"detached", out}};
    }
    if (method == "shares.attach") {
        // Only into the same process: a container that restarted since has its binds anew.
        std::vector<DetachedShare> still_there;
        for (const auto& share : detached_shares_)
            if (supervisor.exists(share.container) &&
                supervisor.status(share.container).pid == share.pid)
                still_there.push_back(share);
        detached_shares_.clear();
        return {{"attached", attach_shares(still_there)}};
    }
    if (method == "agent.shutdown") {
        loop_.stop();
        return nlohmann::json::object();
    }
    throw AgentError("unknown_method", fmt::format("this agent (protocol {}) has no method \"{}\"",
                                                   protocol_version, method));
}

// Removes every container of the environment, then its network and named volumes, and answers
// with what went.
nlohmann::json Agent::destroy_environment(Session& session, int64_t id, const std::string& env,
                                          bool keep_network) {
    auto removed =
        std::make_shared<nlohmann::json>(nlohmann::json{{"containers", nlohmann::json::array()},
                                                        {"networks", nlohmann::json::array()},
                                                        {"volumes", nlohmann::json::array()}});
    auto finish = [this, &session, id, env, removed, keep_network] {
        for (const auto& network : networks_->list())
            if (network.name == env && !keep_network) {
                supervisor_->forget_network(network.name);
                networks_->remove(network.name);
                (*removed)["networks"].push_back(network.name);
            }
        const fs::path volumes = supervisor_->paths().volumes();
        if (fs::exists(volumes))
            for (const auto& entry : fs::directory_iterator(volumes)) {
                const std::string name = entry.path().filename().string();
                if (name.rfind(env + "_", 0) != 0) continue;
                std::error_code ignored;
                fs::remove_all(entry.path(), ignored);
                (*removed)["volumes"].push_back(name);
            }
        if (sessions_.count(&session)) session.respond(id, *removed);
        check_idle();
    };
    const auto containers = supervisor_->list(env);
    if (containers.empty()) {
        finish();
        return nullptr;
    }
    auto left = std::make_shared<size_t>(containers.size());
    for (const auto& status : containers) {
        (*removed)["containers"].push_back(status.spec.id);
        // Whatever it would save on a graceful stop is about to be deleted.
        supervisor_->remove(
            status.spec.id,
            [left, finish] {
                if (--*left == 0) finish();
            },
            true);
    }
    return nullptr;
}

// Stops the environment's running containers all at once (each after its own grace period),
// and answers with their ids once every one has stopped.
nlohmann::json Agent::halt_environment(Session& session, int64_t id, const std::string& env) {
    std::vector<std::string> running;
    for (const auto& status : supervisor_->list(env))
        if (status.state == "running" || status.state == "restarting")
            running.push_back(status.spec.id);
    if (running.empty()) return {{"stopped", nlohmann::json::array()}};
    auto left = std::make_shared<size_t>(running.size());
    for (const auto& container : running)
        supervisor_->stop(container, [this, &session, id, left, running] {
            if (--*left != 0) return;
            if (sessions_.count(&session)) session.respond(id, {{"stopped", running}});
        });
    return nullptr;
}

} // namespace lcloud::agent

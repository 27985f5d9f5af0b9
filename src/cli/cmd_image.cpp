#include "cli/app.hpp"
#include "cli/environment.hpp"
#include "providers/local/local_agent.hpp"

#include <filesystem>
#include <fmt/format.h>
#include <iostream>

namespace lcloud::cli {

namespace {

// Images live where the containers do: with the local provider, in this host's agent.
agent::AgentClient image_agent() {
    return std::move(*providers::local::connect_local_agent(true));
}

std::string human_size(uint64_t bytes) {
    if (bytes >= (1u << 20)) return fmt::format("{:.1f} MiB", double(bytes) / (1 << 20));
    return fmt::format("{:.1f} KiB", double(bytes) / 1024);
}

// Prints a build's or bootstrap's lines as they come.
agent::AgentClient::StreamHandler progress_printer(bool quiet) {
    return [quiet](const nlohmann::json& message) {
        if (quiet || message.value("stream", "") != "progress") return;
        std::cout << message.value("line", "") << '\n' << std::flush;
    };
}

} // namespace

void add_image_command(CLI::App& app, Context& context) {
    auto* image = app.add_subcommand("image", "Manage the image store");
    image->require_subcommand(1);

    auto* import = image->add_subcommand(
        "import", "Import a docker-save tar, an OCI layout (dir or tar), or a rootfs tarball");
    auto file = std::make_shared<std::string>();
    auto rootfs = std::make_shared<std::string>();
    auto name = std::make_shared<std::string>();
    import->add_option("file", *file, "The archive or layout")->required();
    import->add_option("--rootfs", *rootfs, "NAME:TAG: the file is a plain root file system");
    import->add_option("--name", *name, "NAME:TAG for an archive of one image");
    context.on_run(import, [&context, file, rootfs, name] {
        auto agent = image_agent();
        nlohmann::json params{{"path", std::filesystem::absolute(*file).string()}};
        if (!rootfs->empty()) params["rootfs"] = *rootfs;
        if (!name->empty()) params["name"] = *name;
        for (const auto& imported : agent.call("image.import", params))
            if (!context.options().quiet)
                std::cout << fmt::format("imported {} ({})\n",
                                         imported.at("reference").get<std::string>(),
                                         imported.at("id").get<std::string>().substr(7, 12));
    });

    auto* build = image->add_subcommand(
        "build", "Build an image from DIR/Containerfile (or Dockerfile); steps are cached");
    struct BuildArguments {
        std::string context;
        std::string tag;
        std::string file;
        std::vector<std::string> build_args;
        bool network = false;
        bool no_cache = false;
    };
    auto built = std::make_shared<BuildArguments>();
    build->add_option("dir", built->context, "The build context")->required();
    build->add_option("-t,--tag", built->tag, "NAME[:TAG] for the result")->required();
    build->add_option("-f,--file", built->file, "The Containerfile (default: DIR/Containerfile)");
    build->add_option("--build-arg", built->build_args, "KEY=VALUE for an ARG");
    build->add_flag("--network", built->network, "RUN steps reach the network");
    build->add_flag("--no-cache", built->no_cache, "Run every step again");
    context.on_run(build, [&context, built] {
        nlohmann::json arguments = nlohmann::json::object();
        for (const auto& pair : built->build_args) {
            const auto equals = pair.find('=');
            if (equals == std::string::npos || equals == 0)
                throw Error("--build-arg " + pair + ": expected KEY=VALUE");
            arguments[pair.substr(0, equals)] = pair.substr(equals + 1);
        }
        nlohmann::json params{{"context", std::filesystem::absolute(built->context).string()},
                              {"tag", built->tag},
                              {"build_args", arguments},
                              {"network", built->network},
                              {"no_cache", built->no_cache}};
        if (!built->file.empty())
            params["containerfile"] = std::filesystem::absolute(built->file).string();
        auto agent = image_agent();
        const auto result =
            agent.call_streaming("image.build", params, progress_printer(context.options().quiet));
        std::cout << fmt::format("built {} ({}): {} steps, {} from the cache\n",
                                 result.at("reference").get<std::string>(),
                                 result.at("id").get<std::string>().substr(7, 12),
                                 result.value("steps", 0), result.value("cache_hits", 0));
    });

    auto* bootstrap = image->add_subcommand(
        "bootstrap", "Make a Debian base image with debootstrap from this machine's mirror");
    struct BootstrapArguments {
        std::string tag;
        std::string suite = "bookworm";
        std::vector<std::string> include;
        std::string mirror;
    };
    auto strapped = std::make_shared<BootstrapArguments>();
    bootstrap->add_option("name", strapped->tag, "NAME[:TAG] for the result")->required();
    bootstrap->add_option("--suite", strapped->suite, "The Debian suite")->capture_default_str();
    bootstrap->add_option("--include", strapped->include, "Extra packages (pkg,pkg)")
        ->delimiter(',');
    bootstrap->add_option("--mirror", strapped->mirror,
                          "The Debian mirror (default: the first of /etc/apt's sources)");
    context.on_run(bootstrap, [&context, strapped] {
        auto agent = image_agent();
        const auto result = agent.call_streaming("image.bootstrap",
                                                 {{"tag", strapped->tag},
                                                  {"suite", strapped->suite},
                                                  {"include", strapped->include},
                                                  {"mirror", strapped->mirror}},
                                                 progress_printer(context.options().quiet));
        std::cout << fmt::format("bootstrapped {} ({})\n",
                                 result.at("reference").get<std::string>(),
                                 result.at("id").get<std::string>().substr(7, 12));
    });

    auto* list = image->add_subcommand("ls", "List the images");
    context.on_run(list, [&context] {
        auto agent = image_agent();
        const auto images = agent.call("image.list");
        if (context.options().json) {
            std::cout << images.dump(2) << '\n';
            return;
        }
        std::vector<std::vector<std::string>> rows{{"IMAGE", "ID", "CREATED", "SIZE"}};
        for (const auto& item : images)
            rows.push_back({item.at("reference"), item.at("id").get<std::string>().substr(7, 12),
                            item.value("created", ""), human_size(item.value("size", 0ull))});
        print_table(rows);
    });

    auto* inspect = image->add_subcommand("inspect", "Show an image's configuration");
    auto inspected = std::make_shared<std::string>();
    inspect->add_option("name", *inspected, "NAME[:TAG] or id")->required();
    context.on_run(inspect, [inspected] {
        auto agent = image_agent();
        std::cout << agent.call("image.inspect", {{"name", *inspected}}).dump(2) << '\n';
    });

    auto* tag = image->add_subcommand("tag", "Give an image another NAME:TAG");
    auto source = std::make_shared<std::string>();
    auto target = std::make_shared<std::string>();
    tag->add_option("source", *source)->required();
    tag->add_option("target", *target)->required();
    context.on_run(tag, [source, target] {
        auto agent = image_agent();
        agent.call("image.tag", {{"source", *source}, {"target", *target}});
    });

    auto* remove =
        image->add_subcommand("rm", "Remove an image (refused while a container uses it)");
    auto removed = std::make_shared<std::string>();
    remove->add_option("name", *removed)->required();
    context.on_run(remove, [&context, removed] {
        auto agent = image_agent();
        const auto result = agent.call("image.rm", {{"name", *removed}});
        if (context.options().quiet) return;
        for (const auto& untagged : result.at("untagged"))
            std::cout << "untagged " << untagged.get<std::string>() << '\n';
        for (const auto& deleted : result.at("deleted"))
            std::cout << "deleted " << deleted.get<std::string>() << '\n';
    });

    auto* prune = image->add_subcommand("prune", "Delete layers and blobs no image uses");
    context.on_run(prune, [] {
        auto agent = image_agent();
        const auto result = agent.call("image.prune");
        std::cout << fmt::format("deleted {} item(s), freed {}\n", result.at("deleted").size(),
                                 human_size(result.value("bytes_freed", 0ull)));
    });

    auto* save = image->add_subcommand("save", "Write an image as an OCI archive");
    auto saved = std::make_shared<std::string>();
    auto output = std::make_shared<std::string>();
    save->add_option("name", *saved)->required();
    save->add_option("-o,--output", *output, "FILE.tar")->required();
    context.on_run(save, [saved, output] {
        auto agent = image_agent();
        agent.call("image.save",
                   {{"name", *saved}, {"output", std::filesystem::absolute(*output).string()}});
    });
}

} // namespace lcloud::cli

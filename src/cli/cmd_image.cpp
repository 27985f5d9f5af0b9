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

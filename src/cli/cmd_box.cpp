#include "box/box_add.hpp"
#include "box/box_build.hpp"
#include "box/errors.hpp"
#include "cli/app.hpp"
#include "cli/environment.hpp"
#include "providers/libvirt/box_usage.hpp"

#include <fmt/format.h>
#include <iostream>

namespace lcloud::cli {

void add_box_command(CLI::App& app, Context& context) {
    auto* box = app.add_subcommand("box", "Build, add, list and remove the boxes VMs boot");
    box->require_subcommand(1);

    auto* build = box->add_subcommand("build", "Build a box from Debian's packages: kernel, "
                                               "busybox, dropbear and lcloud-agent");
    auto name = std::make_shared<std::string>(box::default_box);
    build->add_option("name", *name, "The box's name")->capture_default_str();
    context.on_run(build, [&context, name] {
        box::BuildOptions options;
        options.name = *name;
        options.agent = agent_binary();
        const auto built = box::build_box(options, progress_printer(context));
        std::cout << fmt::format("built {} {} in {}\n", built.name, built.version,
                                 built.dir.string());
    });

    auto* list = box->add_subcommand("list", "List the boxes on this host");
    context.on_run(list, [&context] {
        const auto boxes = box::list_boxes();
        if (context.options().json) {
            auto out = nlohmann::json::array();
            for (const auto& entry : boxes)
                out.push_back(entry.manifest);
            std::cout << out.dump(2) << '\n';
            return;
        }
        std::vector<std::vector<std::string>> rows{{"NAME", "VERSION", "KIND", "CHECKSUM"}};
        for (const auto& entry : boxes)
            rows.push_back({entry.name, entry.version,
                            entry.kind == box::BoxKind::disk ? "disk" : "initramfs",
                            entry.checksum().substr(0, 19)});
        print_table(rows);
    });

    auto* add = box->add_subcommand("add", "Add a Vagrant libvirt .box (metadata.json and a "
                                           "qcow2 box.img)");
    auto file = std::make_shared<std::string>();
    auto add_name = std::make_shared<std::string>();
    add->add_option("file", *file, "The .box file")->required();
    add->add_option("--name", *add_name, "The box's name (default: the file's name)");
    context.on_run(add, [file, add_name] {
        const auto added = box::add_vagrant_box(*file, *add_name);
        std::cout << fmt::format("added {} {} (disk box)\n", added.name, added.version);
    });

    auto* remove = box->add_subcommand("remove", "Remove a box (every version) and the volumes "
                                                 "made from it");
    auto remove_name = std::make_shared<std::string>();
    auto force = std::make_shared<bool>(false);
    auto uri = std::make_shared<std::string>("qemu:///system");
    remove->add_option("name", *remove_name, "The box")->required();
    remove->add_flag("-f,--force", *force, "Even while an environment's VM uses it");
    remove->add_option("--uri", *uri, "The libvirt connection")->capture_default_str();
    context.on_run(remove, [remove_name, force, uri] {
        std::vector<box::Box> versions;
        for (auto& entry : box::list_boxes())
            if (entry.name == *remove_name) versions.push_back(std::move(entry));
        if (versions.empty())
            throw box::BoxError(
                fmt::format("there is no box {}; 'lcloud box list' shows them", *remove_name));
        for (const auto& version : versions) {
            const auto users = providers::libvirt::domains_using_box(*uri, version);
            if (!users.empty() && !*force) {
                std::string names;
                for (const auto& user : users)
                    names += (names.empty() ? "" : ", ") + user;
                throw box::BoxError(fmt::format("the box {} {} is used by {}; 'lcloud destroy' "
                                                "them first, or remove it anyway with -f",
                                                version.name, version.version, names));
            }
        }
        for (const auto& version : versions) {
            for (const auto& volume : providers::libvirt::remove_volumes_of_box(*uri, version))
                std::cout << "removed volume " << volume << '\n';
            box::remove_box(version);
            std::cout << fmt::format("removed {} {}\n", version.name, version.version);
        }
    });
}

} // namespace lcloud::cli

#include "providers/libvirt/image_cache.hpp"

#include "common/command.hpp"
#include "providers/libvirt/boot_checkpoint.hpp"
#include "providers/libvirt/disk_snapshots.hpp"
#include "providers/libvirt/errors.hpp"
#include "providers/libvirt/libvirt_machine.hpp"
#include "providers/libvirt/storage.hpp"
#include "state/atomic_file.hpp"

#include <algorithm>
#include <fmt/format.h>
#include <spdlog/spdlog.h>

namespace lcloud::providers::libvirt {

namespace fs = std::filesystem;

fs::path image_cache_dir() {
    return "/var/lib/lcloud/image-cache";
}

fs::path image_cache_file(const std::string& domain_name) {
    return image_cache_dir() / (domain_name + ".qcow2");
}

std::optional<fs::path> usable_image_cache(const std::string& domain_name, uint64_t capacity) {
    const auto file = image_cache_file(domain_name);
    std::error_code error;
    if (!fs::exists(file, error)) return std::nullopt;
    const auto result = run_program({"qemu-img", "info", "--output=json", file.string()});
    const auto info = nlohmann::json::parse(result.output, nullptr, false);
    // A cache for another disk size (vm.disk changed) or one that does not read is passed over;
    // the next destroy replaces it.
    if (result.exit_code != 0 || !info.is_object() || info.value("format", "") != "qcow2" ||
        info.value("virtual-size", uint64_t{0}) != capacity) {
        spdlog::debug("the image cache {} does not fit: {}", file.string(), result.output);
        return std::nullopt;
    }
    // Used: the newest are the ones kept.
    fs::last_write_time(file, fs::file_time_type::clock::now(), error);
    return file;
}

std::vector<std::string> prune_image_caches(virConnectPtr connection, const fs::path& dir,
                                            size_t keep) {
    std::vector<std::pair<fs::file_time_type, fs::path>> caches;
    std::error_code error;
    for (const auto& entry : fs::directory_iterator(dir, error))
        if (entry.path().extension() == ".qcow2")
            caches.emplace_back(entry.last_write_time(error), entry.path());
    std::sort(caches.begin(), caches.end(), std::greater<>());
    std::vector<std::string> removed;
    for (size_t i = keep; i < caches.size(); ++i) {
        const auto& file = caches[i].second;
        if (!volumes_backed_by(connection, file).empty()) continue;
        if (fs::remove(file, error)) removed.push_back(file.string());
        // Its VM's checkpoint, which destroy kept with it, unless that VM exists again.
        const auto domain = file.stem().string();
        if (!DomainHandle(virDomainLookupByName(connection, domain.c_str())))
            remove_checkpoint(domain);
    }
    return removed;
}

std::optional<std::string> LibvirtMachine::keep_image_cache(const nlohmann::json& record) {
    const auto cache = image_cache_file(domain_name_);
    const auto pristine = record.value("pristine", nlohmann::json::object());
    // A pristine state with containers in it would bring them (and their volumes) back.
    if (!pristine.value("before_containers", false)) return std::nullopt;
    if (record.contains("seed") && !pristine.value("images_changed", true))
        return fs::exists(cache)
                   ? std::optional(fmt::format("the images in {} for the next up", cache.string()))
                   : std::nullopt;
    const auto data_file = domain_name_ + "-data.qcow2";
    std::string disk;
    for (const auto& file : pristine.value("disks", std::vector<std::string>{}))
        if (fs::path(file).filename() == data_file) disk = file;
    std::error_code error;
    if (disk.empty() || !fs::exists(disk, error)) return std::nullopt;
    const fs::path partial = cache.string() + ".partial";
    try {
        fs::create_directories(cache.parent_path());
        fs::remove(partial, error);
        if (record.contains("seed")) {
            // An overlay of the cache it replaces: made whole in a new file.
            run_program_checked({"qemu-img", "convert", "-O", "qcow2", "-l",
                                 std::string("snapshot.name=") + pristine_snapshot, disk,
                                 partial.string()},
                                "copying the images of " + disk + " to " + partial.string());
        } else {
            // The disk itself becomes the cache: back to its pristine state, without its
            // snapshots (that one, the user's), and out of the pool.
            run_program_checked({"qemu-img", "snapshot", "-a", pristine_snapshot, disk},
                                "returning " + disk + " to its pristine state");
            for (const auto& name : disk_snapshot_names(disk))
                run_program_checked({"qemu-img", "snapshot", "-d", name, disk},
                                    "removing the snapshot " + name + " of " + disk);
            fs::rename(disk, partial);
        }
        fs::rename(partial, cache);
        fs::last_write_time(cache, fs::file_time_type::clock::now(), error);
        return fmt::format("the images in {} ({} MiB) for the next up", cache.string(),
                           fs::file_size(cache, error) >> 20);
    } catch (const std::exception& failure) {
        fs::remove(partial, error);
        spdlog::warn("the images of {} are not kept for the next up: {}", domain_name_,
                     failure.what());
        return std::nullopt;
    }
}

} // namespace lcloud::providers::libvirt

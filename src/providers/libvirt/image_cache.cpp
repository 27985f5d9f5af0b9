#include "providers/libvirt/image_cache.hpp"

#include "common/clock.hpp"
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

void LibvirtMachine::save_image_cache(bool images_changed) {
    auto record = machine_record();
    if (!images_changed && (record.contains("images") || record.contains("seed"))) return;
    auto domain = require("keep its images");
    const auto data_file = domain_name_ + "-data.qcow2";
    std::vector<WritableDisk> data;
    for (auto& disk : writable_disks(domain.get(), domain_name_))
        if (fs::path(disk.file).filename() == data_file) data.push_back(std::move(disk));
    if (data.empty())
        throw LibvirtError(fmt::format("the VM {} has no data disk {}", domain_name_, data_file));
    // What the guest's page cache holds reaches the disk first; the journal covers the rest.
    guest_run("sync");
    snapshot_disks_live(domain.get(), data, images_snapshot,
                        fmt::format("taking the images snapshot of {}'s data disk", domain_name_));
    record["images"] = {{"taken", now_rfc3339_nanos()}, {"disk", data.front().file}};
    state::write_file_atomic(config_.state_dir / "machine.json", record.dump(2));
}

std::optional<std::string> LibvirtMachine::keep_image_cache(const nlohmann::json& record) {
    const auto cache = image_cache_file(domain_name_);
    if (!record.contains("images"))
        return record.contains("seed") && fs::exists(cache)
                   ? std::optional(fmt::format("the images in {} for the next up", cache.string()))
                   : std::nullopt;
    const std::string disk = record["images"].value("disk", "");
    std::error_code error;
    if (disk.empty() || !fs::exists(disk, error)) return std::nullopt;
    const fs::path partial = cache.string() + ".partial";
    try {
        fs::create_directories(cache.parent_path());
        fs::remove(partial, error);
        if (record.contains("seed")) {
            // An overlay of the cache it replaces: made whole in a new file.
            run_program_checked({"qemu-img", "convert", "-O", "qcow2", "-l",
                                 std::string("snapshot.name=") + images_snapshot, disk,
                                 partial.string()},
                                "copying the images of " + disk + " to " + partial.string());
        } else {
            // The disk itself becomes the cache: back to its images, without the other
            // snapshots (pristine, the user's), and out of the pool.
            run_program_checked({"qemu-img", "snapshot", "-a", images_snapshot, disk},
                                "returning " + disk + " to its images snapshot");
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

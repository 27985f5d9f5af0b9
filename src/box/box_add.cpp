#include "box/box_add.hpp"

#include "box/errors.hpp"
#include "box/staging_dir.hpp"
#include "state/atomic_file.hpp"

#include <archive.h>
#include <archive_entry.h>
#include <fmt/format.h>
#include <fstream>
#include <memory>
#include <unistd.h>

namespace lcloud::box {

namespace fs = std::filesystem;

namespace {

// Only these names are taken from the archive, each written below the staging directory by
// name: no path from the archive is ever used as a path here.
const std::vector<std::pair<std::string, std::string>> wanted_files{
    {"metadata.json", "metadata.json"},
    {"box.img", "box.img"},
    {"Vagrantfile", "Vagrantfile"},
    {"kernel", "kernel"},
    {"vmlinuz", "kernel"},
    {"initrd", "initrd"},
    {"initrd.img", "initrd"},
    {"initramfs", "initrd"}};

void extract_wanted(const fs::path& file, const fs::path& staged) {
    std::unique_ptr<archive, decltype(&archive_read_free)> reader(archive_read_new(),
                                                                  archive_read_free);
    archive_read_support_filter_all(reader.get());
    archive_read_support_format_tar(reader.get());
    if (archive_read_open_filename(reader.get(), file.c_str(), 1 << 20) != ARCHIVE_OK)
        throw BoxError(fmt::format("{}: not a Vagrant box (a tar archive): {}", file.string(),
                                   archive_error_string(reader.get())));
    archive_entry* entry = nullptr;
    int status;
    while ((status = archive_read_next_header(reader.get(), &entry)) == ARCHIVE_OK) {
        if (archive_entry_filetype(entry) != AE_IFREG) continue;
        std::string name = archive_entry_pathname(entry);
        if (name.starts_with("./")) name = name.substr(2);
        std::string target;
        for (const auto& [archive_name, staged_name] : wanted_files)
            if (name == archive_name) target = staged_name;
        if (target.empty()) continue;
        std::ofstream out(staged / target, std::ios::binary | std::ios::trunc);
        const void* block = nullptr;
        size_t size = 0;
        la_int64_t offset = 0;
        int read_status;
        while ((read_status = archive_read_data_block(reader.get(), &block, &size, &offset)) ==
               ARCHIVE_OK) {
            out.seekp(offset);
            out.write(static_cast<const char*>(block), static_cast<std::streamsize>(size));
        }
        if (read_status != ARCHIVE_EOF || !out.flush())
            throw BoxError(fmt::format("{}: {} is truncated or corrupt: {}", file.string(), name,
                                       archive_error_string(reader.get())));
    }
    if (status != ARCHIVE_EOF)
        throw BoxError(fmt::format("{}: the archive is corrupt: {}", file.string(),
                                   archive_error_string(reader.get())));
}

} // namespace

Box add_vagrant_box(const fs::path& file, std::string name) {
    if (name.empty()) {
        name = file.filename().string();
        if (const auto dot = name.find('.'); dot != std::string::npos && dot > 0) name.resize(dot);
    }
    check_box_name(name);
    StagingDir staging("add");
    extract_wanted(file, staging.path());
    const auto metadata_text = state::read_file(staging.path() / "metadata.json");
    if (!metadata_text)
        throw BoxError(fmt::format("{}: no metadata.json; a Vagrant libvirt box holds "
                                   "metadata.json and box.img",
                                   file.string()));
    const auto metadata = nlohmann::json::parse(*metadata_text, nullptr, false);
    if (!metadata.is_object() || metadata.value("provider", "") != "libvirt")
        throw BoxError(
            fmt::format("{}: metadata.json must say \"provider\": \"libvirt\"", file.string()));
    if (metadata.value("format", "qcow2") != "qcow2")
        throw BoxError(fmt::format("{}: metadata.json says format {}; only qcow2 disks are "
                                   "supported",
                                   file.string(), metadata.value("format", "")));
    std::ifstream disk(staging.path() / "box.img", std::ios::binary);
    char magic[4] = {};
    if (!disk || !disk.read(magic, 4) || std::string(magic, 4) != std::string("QFI\xfb", 4))
        throw BoxError(fmt::format("{}: box.img is missing or is not a qcow2 disk", file.string()));

    std::vector<std::pair<std::string, std::string>> roles{{"disk", "box.img"}};
    if (fs::exists(staging.path() / "kernel")) roles.emplace_back("kernel", "kernel");
    if (fs::exists(staging.path() / "initrd")) roles.emplace_back("initrd", "initrd");
    const auto version = metadata.contains("version") && metadata["version"].is_string()
                             ? metadata["version"].get<std::string>()
                             : new_version();
    nlohmann::json manifest{{"name", name},
                            {"version", version},
                            {"kind", "disk"},
                            {"source", fs::absolute(file).string()},
                            {"vagrant_metadata", metadata}};
    describe_files(manifest, staging.path(), roles);
    state::write_file_atomic(staging.path() / "manifest.json", manifest.dump(2) + "\n", 0644);
    if (fs::exists(boxes_root() / name / version))
        throw BoxError(fmt::format("the box {} {} is already here; 'lcloud box remove {}' first",
                                   name, version, name));
    return install_box(staging.path(), name, version);
}

} // namespace lcloud::box

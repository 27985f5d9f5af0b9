#pragma once

// Boxes on this host: ${XDG_DATA_HOME:-~/.local/share}/lcloud/boxes/NAME/VERSION/, each with a
// manifest.json that says what it is (an initramfs box: a kernel and an initramfs; a disk box: a
// qcow2 disk, maybe with a kernel and an initrd) and the sha256 of every file.

#include <filesystem>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

namespace lcloud::box {

inline constexpr const char* default_box = "lcloud/base";

enum class BoxKind { initramfs, disk };

struct Box {
    std::string name;
    std::string version;
    BoxKind kind = BoxKind::initramfs;
    std::filesystem::path dir;
    nlohmann::json manifest;

    // A file the manifest names ("kernel", "initrd", "disk"); nullopt when it names none.
    std::optional<std::filesystem::path> file(const std::string& role) const;
    std::string checksum() const { return manifest.value("checksum", ""); }
    // Extra kernel command line the box wants (an initramfs box: its console and quiet flags).
    std::string cmdline() const { return manifest.value("cmdline", ""); }
};

std::filesystem::path boxes_root();

// "lcloud/base" and the like: letters, digits, '.', '_', '-', one optional '/'. Throws BoxError.
void check_box_name(const std::string& name);

std::vector<Box> list_boxes();
// The newest version of the box; nullopt when there is none.
std::optional<Box> find_box(const std::string& name);

// Moves a finished box directory (with its manifest.json) into place, atomically.
Box install_box(const std::filesystem::path& staged_dir, const std::string& name,
                const std::string& version);
void remove_box(const Box& box);

// The manifest's file entries: {"role": {"path", "size", "sha256"}}, and the box's checksum
// (the sha256 over them). Reads every file.
void describe_files(nlohmann::json& manifest, const std::filesystem::path& dir,
                    const std::vector<std::pair<std::string, std::string>>& role_paths);
// Re-reads every file and compares with the manifest; throws BoxError naming a corrupt file.
void verify_box(const Box& box);

// "sha256:…" of a file's bytes.
std::string file_digest(const std::filesystem::path& path);

// A new version: UTC date and time, so that newer sorts later.
std::string new_version();

} // namespace lcloud::box

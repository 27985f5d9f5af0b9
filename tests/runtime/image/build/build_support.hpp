#pragma once

// A store and a build context in a temporary directory, with the busybox image the build tests
// start FROM, and ways to look at what a build made.

#include "../archive_builder.hpp"
#include "runtime/image/build/build.hpp"
#include "runtime/image/overlay.hpp"
#include "runtime/image/store.hpp"
#include "support/busybox_image.hpp"
#include "support/temp_dir.hpp"

#include <archive.h>
#include <archive_entry.h>
#include <cerrno>
#include <filesystem>
#include <fstream>
#include <memory>
#include <string>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include <vector>

namespace lcloud::test::image {

namespace build = runtime::image::build;

struct BuildSandbox {
    TempDir temp;
    std::filesystem::path store_root = temp.path() / "store";
    std::filesystem::path context = temp.path() / "context";
    runtime::image::Store store{store_root, runtime::image::StoreOptions{{}, false}};
    std::vector<std::string> output;

    BuildSandbox() { std::filesystem::create_directory(context); }

    void import_busybox() {
        const BusyboxTarball tarball;
        store.import_rootfs(tarball.path(), runtime::image::parse_reference("busybox:test"));
    }

    void write(const std::string& path, const std::string& content) const {
        std::filesystem::create_directories((context / path).parent_path());
        write_file(context / path, content);
    }

    build::BuildResult build(const std::string& containerfile, build::BuildOptions options = {}) {
        write("Containerfile", containerfile);
        options.context = context;
        if (options.tag.empty()) options.tag = "app:test";
        output.clear();
        return build::build_image(store, options,
                                  [this](const std::string& line) { output.push_back(line); });
    }

    std::string output_text() const {
        std::string text;
        for (const std::string& line : output)
            text += line + "\n";
        return text;
    }

    std::string raw_config(const std::string& reference) const {
        const auto details = store.inspect(reference);
        return store.files().read_blob(details.id, "config");
    }
};

inline build::BuildOptions tagged(std::string tag) {
    build::BuildOptions options;
    options.tag = std::move(tag);
    return options;
}

// The image's layers merged under a fresh upper, as a container sees them.
class MountedImage {
  public:
    MountedImage(const runtime::image::Store& store, const std::string& reference)
        : mount_(spec(store, reference)) {}
    std::filesystem::path root() const { return dir_.path() / "merged"; }

  private:
    runtime::image::OverlaySpec spec(const runtime::image::Store& store,
                                     const std::string& reference) {
        for (const char* name : {"upper", "work", "merged"})
            std::filesystem::create_directory(dir_.path() / name);
        return {store.lower_dirs(reference), dir_.path() / "upper", dir_.path() / "work",
                dir_.path() / "merged"};
    }
    TempDir dir_;
    runtime::image::OverlayMount mount_;
};

// The paths of a layer blob's entries, in order.
inline std::vector<std::string> tar_entries(const std::filesystem::path& blob) {
    std::unique_ptr<archive, decltype(&archive_read_free)> reader(archive_read_new(),
                                                                  archive_read_free);
    archive_read_support_filter_all(reader.get());
    archive_read_support_format_tar(reader.get());
    if (archive_read_open_filename(reader.get(), blob.c_str(), 65536) != ARCHIVE_OK)
        throw std::runtime_error("cannot open " + blob.string());
    std::vector<std::string> names;
    archive_entry* entry = nullptr;
    while (archive_read_next_header(reader.get(), &entry) == ARCHIVE_OK)
        names.push_back(archive_entry_pathname(entry));
    return names;
}

inline bool contains(const std::vector<std::string>& list, const std::string& item) {
    return std::find(list.begin(), list.end(), item) != list.end();
}

// What a build may not leave: mounts below the sandbox, files in the store's tmp/, cgroups of
// its RUN containers, child processes. Empty when nothing is left.
inline std::string leftovers(const BuildSandbox& box) {
    namespace fs = std::filesystem;
    std::string found;
    std::ifstream mountinfo("/proc/self/mountinfo");
    for (std::string line; std::getline(mountinfo, line);)
        if (line.find(" " + box.temp.path().string() + "/") != std::string::npos)
            found += "mount: " + line + "\n";
    for (const auto& entry : fs::directory_iterator(box.store_root / "tmp"))
        found += "in tmp/: " + entry.path().filename().string() + "\n";
    const std::string prefix = "lcloud-build-" + std::to_string(::getpid()) + "-";
    std::error_code error;
    for (const auto& hierarchy : fs::directory_iterator("/sys/fs/cgroup", error))
        for (const auto& cgroup : fs::directory_iterator(hierarchy.path() / "lcloud", error))
            if (cgroup.path().filename().string().rfind(prefix, 0) == 0)
                found += "cgroup: " + cgroup.path().string() + "\n";
    errno = 0;
    if (::waitpid(-1, nullptr, WNOHANG) != -1 || errno != ECHILD) found += "a child process\n";
    return found;
}

inline struct stat lstat_or_throw(const std::filesystem::path& path) {
    struct stat st {};
    if (::lstat(path.c_str(), &st) != 0) throw std::runtime_error("lstat " + path.string());
    return st;
}

} // namespace lcloud::test::image

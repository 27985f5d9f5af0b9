#include "box/kernel.hpp"

#include "box/errors.hpp"
#include "common/command.hpp"
#include "state/atomic_file.hpp"

#include <archive.h>
#include <archive_entry.h>
#include <fmt/format.h>
#include <fstream>
#include <map>
#include <memory>
#include <optional>
#include <regex>
#include <set>
#include <sstream>

namespace lcloud::box {

namespace fs = std::filesystem;

namespace {

std::string read_whole(const fs::path& path) {
    auto text = state::read_file(path);
    if (!text) throw BoxError(fmt::format("{}: cannot be read", path.string()));
    return std::move(*text);
}
// The flavour's metapackage names the kernel of the day: "Depends: linux-image-6.1.0-56-amd64".
std::string current_kernel_package() {
    const auto output = run_program_checked(
        {"apt-cache", "depends", "--no-recommends", "linux-image-amd64"},
        "finding Debian's kernel package (apt-cache depends linux-image-amd64)");
    static const std::regex depends(R"(Depends: (linux-image-[0-9][^\s]*-amd64))");
    std::smatch match;
    if (!std::regex_search(output, match, depends))
        throw BoxError("apt-cache does not know linux-image-amd64; run 'apt-get update'");
    return match[1];
}

std::string module_name(const std::string& path) {
    auto name = fs::path(path).filename().string();
    if (name.ends_with(".ko")) name.resize(name.size() - 3);
    for (auto& c : name)
        if (c == '-') c = '_';
    return name;
}

} // namespace

KernelTree fetch_kernel(const fs::path& cache, const fs::path& work, const Progress& progress) {
    KernelTree kernel;
    kernel.package = current_kernel_package();
    kernel.release = kernel.package.substr(std::string("linux-image-").size());
    fs::create_directories(cache);
    auto find_deb = [&]() -> std::optional<fs::path> {
        for (const auto& entry : fs::directory_iterator(cache))
            if (entry.path().filename().string().starts_with(kernel.package + "_") &&
                entry.path().extension() == ".deb")
                return entry.path();
        return std::nullopt;
    };
    auto deb = find_deb();
    if (!deb) {
        progress(fmt::format("downloading {}", kernel.package));
        // apt's sandbox user cannot write to a cache under root's home; the files are ours.
        const auto output = run_program({"sh", "-c",
                                         fmt::format("cd '{}' && apt-get -q -o "
                                                     "APT::Sandbox::User=root download {}",
                                                     cache.string(), kernel.package)});
        deb = find_deb();
        if (!deb)
            throw BoxError(fmt::format("could not download {} with apt-get: {}", kernel.package,
                                       output.output));
    }
    const auto file = deb->filename().string();
    kernel.package_version =
        file.substr(kernel.package.size() + 1, file.rfind('_') - kernel.package.size() - 1);
    progress(fmt::format("unpacking {} {}", kernel.package, kernel.package_version));
    kernel.root = work / "kernel";
    fs::create_directories(kernel.root);
    run_program_checked({"dpkg-deb", "-x", deb->string(), kernel.root.string()},
                        fmt::format("unpacking {}", deb->string()));
    kernel.bz_image = kernel.root / "boot" / ("vmlinuz-" + kernel.release);
    kernel.modules = kernel.root / "lib" / "modules" / kernel.release;
    if (!fs::exists(kernel.bz_image) || !fs::is_directory(kernel.modules))
        throw BoxError(fmt::format("{} holds no {} or no modules", deb->string(),
                                   kernel.bz_image.filename().string()));
    return kernel;
}

void extract_vmlinux(const fs::path& bz_image, const fs::path& out) {
    const auto image = read_whole(bz_image);
    static const std::string xz_magic("\xfd"
                                      "7zXZ\0",
                                      6);
    static const std::string zstd_magic("\x28\xb5\x2f\xfd", 4);
    static const std::string gzip_magic("\x1f\x8b\x08", 3);
    size_t offset = std::string::npos;
    for (const auto* magic : {&xz_magic, &zstd_magic, &gzip_magic})
        offset = std::min(offset, image.find(*magic));
    if (offset == std::string::npos)
        throw BoxError(fmt::format("{}: no xz, zstd or gzip payload found in the kernel image",
                                   bz_image.string()));
    std::unique_ptr<archive, decltype(&archive_read_free)> reader(archive_read_new(),
                                                                  archive_read_free);
    archive_read_support_filter_all(reader.get());
    archive_read_support_format_raw(reader.get());
    archive_entry* entry = nullptr;
    if (archive_read_open_memory(reader.get(), image.data() + offset, image.size() - offset) !=
            ARCHIVE_OK ||
        archive_read_next_header(reader.get(), &entry) != ARCHIVE_OK)
        throw BoxError(fmt::format("{}: cannot decompress the kernel: {}", bz_image.string(),
                                   archive_error_string(reader.get())));
    std::string vmlinux;
    char buffer[1 << 16];
    // The payload is followed by the bzImage's trailer, which the decompressor may call garbage.
    for (la_ssize_t count; (count = archive_read_data(reader.get(), buffer, sizeof buffer)) > 0;)
        vmlinux.append(buffer, static_cast<size_t>(count));
    if (!vmlinux.starts_with("\x7f"
                             "ELF"))
        throw BoxError(
            fmt::format("{}: the decompressed kernel is not an ELF file", bz_image.string()));
    std::ofstream file(out, std::ios::binary | std::ios::trunc);
    file.write(vmlinux.data(), static_cast<std::streamsize>(vmlinux.size()));
    if (!file.flush()) throw BoxError(fmt::format("{}: cannot be written", out.string()));
}

std::vector<std::string> module_closure(const KernelTree& kernel,
                                        const std::vector<std::string>& wanted) {
    if (!fs::exists(kernel.modules / "modules.dep"))
        run_program_checked({"depmod", "-b", kernel.root.string(), kernel.release},
                            "depmod over the kernel's modules");
    std::map<std::string, std::pair<std::string, std::vector<std::string>>> modules;
    std::istringstream dep(read_whole(kernel.modules / "modules.dep"));
    for (std::string line; std::getline(dep, line);) {
        const auto colon = line.find(':');
        if (colon == std::string::npos) continue;
        const auto path = line.substr(0, colon);
        std::vector<std::string> needs;
        std::istringstream rest(line.substr(colon + 1));
        for (std::string need; rest >> need;)
            needs.push_back(need);
        modules[module_name(path)] = {path, needs};
    }
    std::set<std::string> closure;
    for (const auto& name : wanted) {
        const auto it = modules.find(module_name(name));
        if (it == modules.end())
            throw BoxError(fmt::format("the kernel {} has no module {}", kernel.release, name));
        closure.insert(it->second.first);
        closure.insert(it->second.second.begin(), it->second.second.end());
    }
    return {closure.begin(), closure.end()};
}

std::vector<std::string> modules_under(const KernelTree& kernel,
                                       const std::vector<std::string>& dirs) {
    std::vector<std::string> names;
    for (const auto& dir : dirs) {
        const auto base = kernel.modules / "kernel" / dir;
        if (!fs::is_directory(base)) continue;
        for (const auto& entry : fs::recursive_directory_iterator(base))
            if (entry.path().extension() == ".ko") names.push_back(module_name(entry.path()));
    }
    return names;
}

} // namespace lcloud::box

#include "box/initramfs.hpp"

#include "box/errors.hpp"
#include "common/command.hpp"

#include <algorithm>
#include <archive.h>
#include <archive_entry.h>
#include <fmt/format.h>
#include <fstream>
#include <memory>
#include <sstream>
#include <sys/stat.h>
#include <vector>

namespace lcloud::box {

namespace fs = std::filesystem;

namespace {

void copy_file_into(const fs::path& source, const fs::path& root, const fs::path& target) {
    const auto destination = root / target.relative_path();
    fs::create_directories(destination.parent_path());
    // A busybox applet link may already hold the name: the real program wins.
    std::error_code error;
    fs::remove(destination, error);
    fs::copy_file(fs::canonical(source), destination, fs::copy_options::overwrite_existing);
}

} // namespace

void copy_program(const fs::path& program, const fs::path& root, const fs::path& target,
                  bool strip) {
    if (!fs::exists(program))
        throw BoxError(fmt::format("{} is missing; it goes into the box", program.string()));
    copy_file_into(program, root, target);
    if (strip)
        run_program_checked({"strip", "--strip-debug", (root / target.relative_path()).string()},
                            fmt::format("stripping {}", program.string()));
    const auto listing = run_program({"ldd", program.string()});
    std::istringstream lines(listing.output);
    for (std::string line; std::getline(lines, line);) {
        // "libz.so.1 => /lib/x86_64-linux-gnu/libz.so.1 (0x...)" or "/lib64/ld-linux... (0x...)"
        std::istringstream words(line);
        std::vector<std::string> parts;
        for (std::string word; words >> word;)
            parts.push_back(word);
        std::string library;
        if (parts.size() >= 3 && parts[1] == "=>")
            library = parts[2];
        else if (!parts.empty() && parts[0].starts_with("/"))
            library = parts[0];
        if (library.empty() || !library.starts_with("/")) continue;
        if (!fs::exists(root / fs::path(library).relative_path()))
            copy_file_into(library, root, library);
    }
}

void write_cpio(const fs::path& root, const fs::path& out) {
    std::vector<fs::path> paths;
    for (const auto& entry : fs::recursive_directory_iterator(root))
        paths.push_back(entry.path());
    std::sort(paths.begin(), paths.end());
    std::unique_ptr<archive, decltype(&archive_write_free)> writer(archive_write_new(),
                                                                   archive_write_free);
    archive_write_set_format_cpio_newc(writer.get());
    if (archive_write_open_filename(writer.get(), out.c_str()) != ARCHIVE_OK)
        throw BoxError(fmt::format("{}: {}", out.string(), archive_error_string(writer.get())));
    std::unique_ptr<archive_entry, decltype(&archive_entry_free)> entry(archive_entry_new(),
                                                                        archive_entry_free);
    std::vector<char> buffer(1 << 20);
    unsigned inode = 1;
    for (const auto& path : paths) {
        struct stat info {};
        if (::lstat(path.c_str(), &info) != 0)
            throw BoxError(fmt::format("{}: cannot be read", path.string()));
        archive_entry_clear(entry.get());
        archive_entry_set_pathname(entry.get(), path.lexically_relative(root).c_str());
        archive_entry_copy_stat(entry.get(), &info);
        archive_entry_set_uid(entry.get(), 0);
        archive_entry_set_gid(entry.get(), 0);
        archive_entry_set_ino(entry.get(), inode++);
        archive_entry_set_nlink(entry.get(), S_ISDIR(info.st_mode) ? 2 : 1);
        std::string link;
        if (S_ISLNK(info.st_mode)) {
            link = fs::read_symlink(path).string();
            archive_entry_set_symlink(entry.get(), link.c_str());
            // libarchive writes the target as the body itself.
            archive_entry_set_size(entry.get(), 0);
        }
        if (archive_write_header(writer.get(), entry.get()) != ARCHIVE_OK)
            throw BoxError(
                fmt::format("{}: {}", path.string(), archive_error_string(writer.get())));
        if (S_ISDIR(info.st_mode)) archive_entry_set_size(entry.get(), 0);
        if (S_ISREG(info.st_mode)) {
            std::ifstream in(path, std::ios::binary);
            while (in) {
                in.read(buffer.data(), static_cast<std::streamsize>(buffer.size()));
                if (in.gcount() > 0)
                    archive_write_data(writer.get(), buffer.data(),
                                       static_cast<size_t>(in.gcount()));
            }
        }
    }
    if (archive_write_close(writer.get()) != ARCHIVE_OK)
        throw BoxError(fmt::format("{}: {}", out.string(), archive_error_string(writer.get())));
}

} // namespace lcloud::box

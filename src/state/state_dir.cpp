#include "state/state_dir.hpp"

#include "common/error.hpp"
#include "common/fd.hpp"
#include "state/atomic_file.hpp"

#include <cerrno>
#include <fcntl.h>
#include <fmt/format.h>
#include <sys/stat.h>

namespace lcloud::state {

namespace {

[[noreturn]] void throw_not_a_directory(const std::filesystem::path& path, bool symlink) {
    throw Error(fmt::format("{} is {}, but lcloud keeps the environment's private state in a "
                            "directory of that name. Move it away and run again",
                            path.string(), symlink ? "a symbolic link" : "not a directory"));
}

} // namespace

StateDir StateDir::open(const std::filesystem::path& project_dir) {
    const auto path = project_dir / dir_name;
    if (::mkdir(path.c_str(), 0700) != 0 && errno != EEXIST) throw_errno("create", path.string());
    // Inspect and chmod through one descriptor opened without following links, so a symlink
    // swapped in meanwhile cannot redirect the chmod.
    Fd fd(::open(path.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
    if (!fd) {
        if (errno == ENOTDIR || errno == ELOOP) {
            struct stat info {};
            const bool symlink = ::lstat(path.c_str(), &info) == 0 && S_ISLNK(info.st_mode);
            throw_not_a_directory(path, symlink);
        }
        throw_errno("open", path.string());
    }
    struct stat info {};
    if (::fstat(fd.get(), &info) != 0) throw_errno("inspect", path.string());
    if (!S_ISDIR(info.st_mode)) throw_not_a_directory(path, false);
    if ((info.st_mode & 07777) != 0700 && ::fchmod(fd.get(), 0700) != 0)
        throw_errno("chmod 0700", path.string());
    remove_stale_temp_files(path);
    return StateDir(path);
}

void StateDir::write(std::string_view name, std::string_view content) const {
    write_file_atomic(file(name), content, 0600);
}

std::optional<std::string> StateDir::read(std::string_view name) const {
    return read_file(file(name));
}

bool StateDir::remove_when_spent() const {
    std::error_code ignored;
    for (const char* name : {"lock", "log", "log.1"})
        std::filesystem::remove(file(name), ignored);
    return ::rmdir(path_.c_str()) == 0;
}

} // namespace lcloud::state

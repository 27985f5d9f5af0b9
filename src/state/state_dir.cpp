#include "state/state_dir.hpp"

#include "common/error.hpp"
#include "state/atomic_file.hpp"

#include <cerrno>
#include <fmt/format.h>
#include <sys/stat.h>

namespace lcloud::state {

StateDir StateDir::open(const std::filesystem::path& project_dir) {
    const auto path = project_dir / dir_name;
    if (::mkdir(path.c_str(), 0700) != 0 && errno != EEXIST) throw_errno("create", path.string());
    struct stat info {};
    if (::lstat(path.c_str(), &info) != 0) throw_errno("inspect", path.string());
    if (!S_ISDIR(info.st_mode))
        throw Error(fmt::format("{} is not a directory; lcloud keeps the environment's state "
                                "there. Move it away and run again",
                                path.string()));
    if ((info.st_mode & 0777) != 0700 && ::chmod(path.c_str(), 0700) != 0)
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

} // namespace lcloud::state

#include "runtime/image/build/bootstrap.hpp"

#include "common/clock.hpp"
#include "common/error.hpp"
#include "common/fd.hpp"
#include "common/strings.hpp"
#include "runtime/container/commands.hpp"
#include "runtime/image/build/image_config.hpp"
#include "runtime/image/file_lock.hpp"
#include "state/atomic_file.hpp"

#include <algorithm>
#include <cerrno>
#include <csignal>
#include <deque>
#include <fcntl.h>
#include <nlohmann/json.hpp>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

namespace lcloud::runtime::image::build {

namespace fs = std::filesystem;
using Json = nlohmann::json;

namespace {

constexpr const char* image_path = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

std::string first_deb_url_in_list(const std::string& text) {
    for (const std::string& raw : split(text, '\n')) {
        std::vector<std::string> words;
        for (const std::string& word : split(trim(raw), ' '))
            if (!word.empty()) words.push_back(word);
        if (words.size() < 3 || words[0] != "deb") continue;
        size_t url = 1;
        // "deb [arch=amd64 signed-by=...] URL SUITE ..."
        if (words[url].front() == '[')
            while (url < words.size() && words[url].back() != ']')
                ++url;
        if (words[url].back() == ']') ++url;
        if (url < words.size()) return words[url];
    }
    return "";
}

std::string first_deb_url_in_sources(const std::string& text) {
    // deb822: paragraphs of "Field: value"; a value may continue on indented lines.
    std::vector<std::string> types, uris;
    bool enabled = true;
    const auto finish = [&]() -> std::string {
        std::string found;
        if (enabled && std::find(types.begin(), types.end(), "deb") != types.end() && !uris.empty())
            found = uris.front();
        types.clear();
        uris.clear();
        enabled = true;
        return found;
    };
    std::vector<std::string>* continuing = nullptr;
    for (const std::string& raw : split(text, '\n')) {
        const std::string_view line = trim(raw);
        if (line.empty()) {
            if (const std::string url = finish(); !url.empty()) return url;
            continuing = nullptr;
            continue;
        }
        if (line.front() == '#') continue;
        const auto words_of = [](std::string_view value) {
            std::vector<std::string> words;
            for (const std::string& word : split(trim(value), ' '))
                if (!word.empty()) words.push_back(word);
            return words;
        };
        if (raw.front() == ' ' || raw.front() == '\t') {
            if (continuing)
                for (std::string& word : words_of(line))
                    continuing->push_back(std::move(word));
            continue;
        }
        const size_t colon = line.find(':');
        if (colon == std::string_view::npos) continue;
        const std::string field = to_lower(trim(line.substr(0, colon)));
        const std::string_view value = line.substr(colon + 1);
        continuing = nullptr;
        if (field == "types") {
            types = words_of(value);
            continuing = &types;
        } else if (field == "uris") {
            uris = words_of(value);
            continuing = &uris;
        } else if (field == "enabled") {
            enabled = to_lower(trim(value)) != "no";
        }
    }
    return finish();
}

// Kills and reaps debootstrap however the bootstrap ends.
struct ChildReaper {
    pid_t pid = 0;
    ~ChildReaper() {
        if (pid <= 0) return;
        ::kill(pid, SIGKILL);
        while (::waitpid(pid, nullptr, 0) < 0 && errno == EINTR) {
        }
    }
};

// Unmounts what debootstrap may have left mounted, then removes the tree.
struct TreeGuard {
    fs::path path;
    ~TreeGuard() {
        unmount_below(path);
        remove_tree(path);
    }
};

struct Outcome {
    int exit_code = 0;
    std::deque<std::string> last_lines;
};

Outcome run_debootstrap(const std::vector<std::string>& args, const Progress& progress) {
    int pipe_fds[2];
    if (::pipe2(pipe_fds, O_CLOEXEC) != 0) throw_errno("create", "the output pipe of debootstrap");
    const Fd read_end(pipe_fds[0]);
    Fd write_end(pipe_fds[1]);
    std::vector<char*> argv;
    for (const std::string& arg : args)
        argv.push_back(const_cast<char*>(arg.c_str()));
    argv.push_back(nullptr);
    ChildReaper child;
    child.pid = ::fork();
    if (child.pid < 0) throw_errno("fork for", "debootstrap");
    if (child.pid == 0) {
        const int null = ::open("/dev/null", O_RDONLY);
        if (null < 0 || ::dup2(null, 0) < 0 || ::dup2(write_end.get(), 1) < 0 ||
            ::dup2(write_end.get(), 2) < 0)
            ::_exit(126);
        ::execvp(argv[0], argv.data());
        // Nothing that allocates between fork and exit: another thread may hold malloc's lock.
        static const char message[] = "cannot run debootstrap: is it installed?\n";
        (void)!::write(2, message, sizeof message - 1);
        ::_exit(127);
    }
    write_end.reset();
    Outcome outcome;
    std::string partial;
    const auto emit = [&](std::string line) {
        if (progress) progress(line);
        outcome.last_lines.push_back(std::move(line));
        if (outcome.last_lines.size() > 20) outcome.last_lines.pop_front();
    };
    char buffer[8192];
    for (;;) {
        const ssize_t count = ::read(read_end.get(), buffer, sizeof buffer);
        if (count < 0 && errno == EINTR) continue;
        if (count <= 0) break;
        partial.append(buffer, static_cast<size_t>(count));
        for (size_t end; (end = partial.find('\n')) != std::string::npos;) {
            emit(partial.substr(0, end));
            partial.erase(0, end + 1);
        }
    }
    if (!partial.empty()) emit(partial);
    int status = 0;
    while (::waitpid(child.pid, &status, 0) < 0)
        if (errno != EINTR) throw_errno("wait for", "debootstrap");
    child.pid = 0;
    outcome.exit_code = exit_code_of(status);
    return outcome;
}

// Emptied as Debian's own images empty them: package lists and downloaded packages are what
// `apt-get update` fetches again.
void clean_apt(const fs::path& tree) {
    for (const char* dir : {"var/lib/apt/lists", "var/cache/apt"}) {
        const fs::path path = tree / dir;
        std::error_code error;
        if (!fs::is_directory(fs::symlink_status(path, error))) continue;
        for (const auto& entry : fs::directory_iterator(path)) {
            const std::string name = entry.path().filename().string();
            if (name == "partial" || name == "archives") {
                if (fs::is_directory(fs::symlink_status(entry.path())))
                    for (const auto& inner : fs::directory_iterator(entry.path()))
                        if (inner.path().filename() != "partial" &&
                            inner.path().filename() != "lock")
                            remove_tree(inner.path());
                continue;
            }
            if (name == "lock") continue;
            remove_tree(entry.path());
        }
    }
    // The host's resolver and name are not the image's.
    for (const char* file : {"etc/resolv.conf", "etc/hostname"}) {
        const fs::path path = tree / file;
        std::error_code error;
        if (fs::is_regular_file(fs::symlink_status(path, error)))
            state::write_file_atomic(path, "", 0644, state::Durability::killed_writer);
    }
}

} // namespace

std::string default_mirror(const fs::path& apt_dir) {
    if (const auto text = state::read_file(apt_dir / "sources.list"))
        if (const std::string url = first_deb_url_in_list(*text); !url.empty()) return url;
    std::vector<fs::path> files;
    std::error_code error;
    for (const auto& entry : fs::directory_iterator(apt_dir / "sources.list.d", error))
        files.push_back(entry.path());
    std::sort(files.begin(), files.end());
    for (const fs::path& file : files) {
        const auto text = state::read_file(file);
        if (!text) continue;
        std::string url;
        if (file.extension() == ".list") url = first_deb_url_in_list(*text);
        if (file.extension() == ".sources") url = first_deb_url_in_sources(*text);
        if (!url.empty()) return url;
    }
    throw ImageError("no deb line in " + (apt_dir / "sources.list").string() + " or " +
                     (apt_dir / "sources.list.d").string() +
                     "; give the Debian mirror with --mirror");
}

ImportedImage bootstrap_image(Store& store, const BootstrapOptions& options,
                              const Progress& progress) {
    if (options.tag.empty())
        throw UsageError("image bootstrap needs a NAME:TAG for the image it makes");
    const Reference reference = parse_reference(options.tag);
    const std::string mirror = options.mirror.empty() ? default_mirror() : options.mirror;
    const FileLock lock(store.files().store_lock_path(), FileLock::Mode::shared);
    const fs::path tree =
        options.work_dir.empty()
            ? store.files().temp_path("bootstrap")
            : options.work_dir / ("lcloud-bootstrap-" + std::to_string(::getpid()));
    if (::mkdir(tree.c_str(), 0755) != 0) throw_errno("create bootstrap directory", tree.string());
    const TreeGuard guard{tree};

    std::vector<std::string> args{"debootstrap", "--variant=" + options.variant};
    if (!options.include.empty()) {
        std::string packages;
        for (const std::string& name : options.include)
            packages += (packages.empty() ? "" : ",") + name;
        args.push_back("--include=" + packages);
    }
    args.insert(args.end(), {options.suite, tree.string(), mirror});
    std::string command;
    for (const std::string& arg : args)
        command += (command.empty() ? "" : " ") + arg;
    if (progress) progress("RUN " + command);
    const Outcome outcome = run_debootstrap(args, progress);
    // debootstrap unmounts what it mounted, but not when it fails or is killed.
    unmount_below(tree);
    if (outcome.exit_code != 0) {
        std::string tail;
        for (const std::string& line : outcome.last_lines)
            tail += "\n  " + line;
        throw ImageError("debootstrap of " + options.suite + " from " + mirror +
                         " failed with exit code " + std::to_string(outcome.exit_code) +
                         "; its last output:" + tail);
    }
    clean_apt(tree);
    if (progress) progress("COMMIT " + reference.str());
    const LayerInfo layer = store.create_layer(tree, options.compression);
    Json image = scratch_image();
    run_config(image) = Json{{"Env", {std::string("PATH=") + image_path}}, {"Cmd", {"/bin/bash"}}};
    record_step(image, command, layer.diff_id, now_rfc3339_nanos());
    const ImportedImage imported = store.commit({layer}, image.dump(), reference);
    if (progress) progress("--> " + imported.id.substr(0, 19));
    return imported;
}

} // namespace lcloud::runtime::image::build

// The instructions that change files: RUN, COPY, ADD, WORKDIR.

#include "common/error.hpp"
#include "common/strings.hpp"
#include "runtime/image/build/builder.hpp"
#include "runtime/image/build/copier.hpp"
#include "runtime/image/build/image_config.hpp"
#include "runtime/image/build/run_container.hpp"
#include "runtime/image/build/users.hpp"
#include "runtime/image/extract.hpp"
#include "runtime/rootfs/safe_path.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

namespace lcloud::runtime::image::build {

namespace fs = std::filesystem;
using Json = nlohmann::json;

namespace {

constexpr const char* default_path = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

// Build args that reach RUN without an ARG, as with Docker, and stay out of the image.
bool is_proxy_arg(const std::string& name) {
    static const std::vector<std::string> names = {"HTTP_PROXY", "HTTPS_PROXY", "FTP_PROXY",
                                                   "NO_PROXY", "ALL_PROXY"};
    for (const std::string& known : names)
        if (name == known || name == to_lower(known)) return true;
    return false;
}

std::string working_dir(const Json& image) {
    const Json& config = image.at("config");
    if (config.contains("WorkingDir") && config["WorkingDir"].is_string() &&
        !config["WorkingDir"].get<std::string>().empty())
        return config["WorkingDir"].get<std::string>();
    return "/";
}

std::string user_of(const Json& image) {
    const Json& config = image.at("config");
    return config.contains("User") && config["User"].is_string() ? config["User"].get<std::string>()
                                                                 : "";
}

std::string in_image(const std::string& path, const Json& image) {
    if (!path.empty() && path.front() == '/') return rootfs::clean_path(path);
    return rootfs::clean_path(working_dir(image) + "/" + path);
}

std::string base_name(const std::string& path) {
    const size_t slash = path.rfind('/');
    return slash == std::string::npos ? path : path.substr(slash + 1);
}

struct stat stat_in(const SourceTree& tree, const std::string& path) {
    struct stat st {};
    const Fd fd = path.empty() ? Fd(::dup(tree.fd()))
                               : rootfs::open_in_root(tree.fd(), path, O_PATH | O_NOFOLLOW);
    if (!fd || ::fstat(fd.get(), &st) != 0) throw_errno("stat", tree.shown() + ": " + path);
    return st;
}

// A tar archive (of any compression libarchive reads) that ADD unpacks, rather than copies.
bool is_archive(const SourceTree& tree, const std::string& path) {
    const Fd fd = rootfs::open_in_root(tree.fd(), path, O_RDONLY | O_NOFOLLOW);
    struct stat st {};
    if (::fstat(fd.get(), &st) != 0 || !S_ISREG(st.st_mode) || st.st_size == 0) return false;
    try {
        LayerStream stream(fd.get(), path, ExtractLimits{}.max_bytes);
        return stream.next() != nullptr;
    } catch (const std::exception&) {
        return false;
    }
}

std::string joined(const std::vector<std::string>& words) {
    std::string text;
    for (const std::string& word : words)
        text += (text.empty() ? "" : " ") + word;
    return text;
}

bool is_remote(const std::string& source) {
    return source.find("://") != std::string::npos || source.rfind("git@", 0) == 0;
}

mode_t parse_chmod(const std::string& text) {
    mode_t mode = 0;
    for (char c : text) {
        if (c < '0' || c > '7' || mode > 0777)
            throw InvalidValue("--chmod=" + text + " is not an octal mode such as 0644 or 755");
        mode = static_cast<mode_t>(mode * 8 + static_cast<mode_t>(c - '0'));
    }
    if (text.empty()) throw InvalidValue("--chmod needs an octal mode such as 0644");
    return mode;
}

} // namespace

std::vector<std::string> Builder::run_env(const Stage& stage) const {
    std::vector<std::string> env = env_list(stage.image);
    for (const auto& [name, value] : stage.args)
        if (value && !env_value(stage.image, name)) env.push_back(name + "=" + *value);
    for (const auto& [name, value] : options_.build_args)
        if (is_proxy_arg(name) && !stage.args.count(name)) env.push_back(name + "=" + value);
    if (!env_value(stage.image, "PATH") && !stage.args.count("PATH"))
        env.push_back(std::string("PATH=") + default_path);
    return env;
}

StepPlan Builder::plan_run(const Instruction& instruction, const Stage& stage) {
    const auto exec = exec_form(instruction.arguments);
    std::vector<std::string> command = exec.value_or(shell_of(stage.image));
    if (!exec) command.push_back(instruction.arguments);
    const std::vector<std::string> env = run_env(stage);
    const std::string cwd = working_dir(stage.image);
    const std::string user = user_of(stage.image);
    const bool network = options_.network;
    StepPlan plan;
    // Proxies change how a RUN fetches, not what it makes: out of the key, as with Docker.
    std::vector<std::string> keyed_env;
    for (const std::string& variable : env)
        if (!is_proxy_arg(variable.substr(0, variable.find('=')))) keyed_env.push_back(variable);
    plan.key_text = Json{{"command", command}, {"env", keyed_env}, {"network", network}}.dump();
    plan.created_by = "RUN " + (exec ? Json(*exec).dump() : instruction.arguments);
    const size_t number = step_number_;
    plan.change_files = [this, command, env, cwd, user, network, number,
                         &instruction](StepRoot& root, const Json&) {
        RunRequest request;
        request.rootfs = root.merged();
        request.args = command;
        request.env = env;
        request.cwd = cwd;
        if (!user.empty()) request.user = resolve_user(root.root_fd(), user);
        request.network = network;
        request.bundle_dir = scratch("bundle", number);
        request.runtime_root = work_dir_ / "runtime";
        ++result_.containers_run;
        const RunOutcome outcome =
            run_build_container(request, [this](const std::string& line) { say(line); });
        if (outcome.exit_code == 0) return;
        std::string tail;
        for (const std::string& line : outcome.last_lines)
            tail += "\n  " + line;
        throw BuildError(file_.path, instruction.line,
                         instruction.text + ": the command exited with code " +
                             std::to_string(outcome.exit_code) +
                             (tail.empty() ? " and printed nothing" : "; its last output:" + tail),
                         outcome.exit_code, tail);
    };
    return plan;
}

const Stage& Builder::source_stage(const Instruction& instruction, const std::string& from) {
    const std::string name = to_lower(from);
    for (size_t i = 0; i + 1 < stages_.size(); ++i)
        if (stages_[i].name == name || std::to_string(i) == name) return stages_[i];
    if (!stages_.back().name.empty() && stages_.back().name == name)
        throw InvalidValue("--from=" + from + " names the stage being built");
    auto found = images_.find(from);
    if (found != images_.end()) return found->second;
    (void)instruction;
    Stage image;
    try {
        const ImageDetails details = store_.inspect(from);
        image.layers = details.layers;
        image.image = Json::parse(store_.files().read_blob(details.id, "image " + details.id));
    } catch (const ImageNotFound&) {
        throw InvalidValue("--from=" + from + " names neither an earlier stage nor an image of " +
                           "the store");
    }
    return images_.emplace(from, std::move(image)).first->second;
}

StepPlan Builder::plan_copy(const Instruction& instruction, const Stage& stage) {
    const bool is_add = instruction.keyword == "ADD";
    const Lookup variables = lookup(&stage);
    std::vector<std::string> arguments;
    if (const auto exec = exec_form(instruction.arguments))
        for (const std::string& item : *exec)
            arguments.push_back(expand_word(item, variables, file_.escape));
    else
        arguments = words(instruction, &stage);
    if (arguments.size() < 2)
        throw InvalidValue(instruction.keyword + " needs at least one source and a destination");
    const std::string dest_raw = arguments.back();
    arguments.pop_back();
    for (const std::string& source : arguments)
        if (is_remote(source))
            throw InvalidValue(instruction.keyword + " of a remote URL ('" + source +
                               "') is not supported: download it into the build context, or "
                               "with curl or wget in a RUN");
    const std::string dest = in_image(dest_raw, stage.image);
    const bool dest_is_dir = dest_raw.ends_with('/') || dest_raw == "." || dest_raw == "..";
    const auto from = instruction.flag("from");
    std::optional<std::string> chown = instruction.flag("chown");
    if (chown) chown = expand_word(*chown, variables, file_.escape);
    std::optional<mode_t> chmod;
    if (const auto mode = instruction.flag("chmod")) chmod = parse_chmod(*mode);

    Json key{{"sources", arguments}, {"dest", dest}, {"dest_raw", dest_raw}};
    if (chown) key["chown"] = *chown;
    if (chmod) key["chmod"] = *chmod;
    std::vector<std::string> matches;
    std::vector<LayerInfo> from_layers;
    if (from) {
        const Stage& source = source_stage(instruction, *from);
        from_layers = source.layers;
        key["from"] = state_digest(source.layers, Json::object());
    } else {
        for (const std::string& source : arguments)
            for (std::string& match : context_->resolve(source))
                matches.push_back(std::move(match));
        key["content"] = context_->digest(matches, hashes_);
    }
    const bool many = arguments.size() > 1 || (!from && matches.size() > 1) ||
                      (from && has_glob(arguments.front()));
    if (many && !dest_raw.ends_with('/'))
        throw InvalidValue("with more than one source the destination must be a directory "
                           "ending in /, like " +
                           dest_raw + "/");
    StepPlan plan;
    plan.key_text = key.dump();
    plan.created_by = instruction.keyword + " " + joined(arguments) + " " + dest;
    const size_t number = step_number_;
    plan.change_files = [this, is_add, arguments, matches, from, from_layers, chown, chmod, dest,
                         dest_is_dir, many, number](StepRoot& root, const Json&) {
        Copier copier(root.root_fd());
        CopyOptions options;
        options.mode = chmod;
        if (chown) {
            const ResolvedUser user = resolve_user(root.root_fd(), *chown);
            options.owner = std::make_pair(user.uid, user.gid);
        } else if (!from) {
            options.owner = std::make_pair(0u, 0u); // the context's owners mean nothing here
        }
        std::optional<StepRoot> source_root;
        std::optional<SourceTree> stage_tree;
        const SourceTree* tree = &*context_;
        std::vector<std::string> paths = matches;
        if (from) {
            source_root.emplace(lower_dirs(from_layers), scratch("from", number));
            stage_tree.emplace(source_root->merged(), IgnoreRules(), "--from=" + *from);
            tree = &*stage_tree;
            for (const std::string& source : arguments)
                for (std::string& match : tree->resolve(source))
                    paths.push_back(std::move(match));
        }
        for (const std::string& path : paths) {
            const struct stat st = stat_in(*tree, path);
            if (S_ISDIR(st.st_mode)) {
                copier.copy(*tree, path, dest, options);
            } else if (is_add && is_archive(*tree, path)) {
                const fs::path unpacked = scratch("archive", number);
                const RemoveGuard guard(unpacked);
                const Fd archive = rootfs::open_in_root(tree->fd(), path, O_RDONLY | O_NOFOLLOW);
                extract_layer(archive.get(), unpacked, path);
                const SourceTree contents(unpacked, IgnoreRules(), "archive " + path);
                CopyOptions kept = options;
                if (!chown) kept.owner.reset(); // an archive's owners are kept, as Docker does
                copier.copy(contents, "", dest, kept);
            } else {
                const bool into = dest_is_dir || many || copier.is_directory(dest);
                copier.copy(*tree, path, into ? dest + "/" + base_name(path) : dest, options);
            }
        }
    };
    return plan;
}

StepPlan Builder::plan_workdir(const Instruction& instruction, const Stage& stage) {
    const std::string path = in_image(word(instruction, &stage), stage.image);
    const std::string user = user_of(stage.image);
    StepPlan plan;
    plan.key_text = path + "\n" + user;
    plan.created_by = "WORKDIR " + path;
    plan.change_config = [path](Json& image) { run_config(image)["WorkingDir"] = path; };
    plan.change_files = [path, user](StepRoot& root, const Json&) {
        std::pair<uid_t, gid_t> owner{0, 0};
        // As BuildKit: the directory belongs to USER; a user the image does not know gets root.
        if (!user.empty()) try {
                const ResolvedUser resolved = resolve_user(root.root_fd(), user);
                owner = {resolved.uid, resolved.gid};
            } catch (const InvalidValue&) {
            }
        Copier(root.root_fd()).ensure_directory(path, owner);
    };
    return plan;
}

} // namespace lcloud::runtime::image::build

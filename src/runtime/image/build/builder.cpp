#include "runtime/image/build/builder.hpp"

#include "common/clock.hpp"
#include "common/error.hpp"
#include "common/strings.hpp"
#include "runtime/image/build/image_config.hpp"
#include "runtime/image/file_lock.hpp"
#include "runtime/image/layer_writer.hpp"
#include "runtime/image/sha256.hpp"
#include "state/atomic_file.hpp"

#include <atomic>
#include <sys/stat.h>
#include <unistd.h>

namespace lcloud::runtime::image::build {

namespace fs = std::filesystem;
using Json = nlohmann::json;

namespace {

bool is_arg_name(std::string_view name) {
    if (name.empty() || (name[0] >= '0' && name[0] <= '9')) return false;
    for (char c : name)
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '_'))
            return false;
    return true;
}

std::string short_digest(const std::string& digest) {
    return digest.substr(0, 7 + 12);
}

fs::path find_containerfile(const BuildOptions& options) {
    if (!options.containerfile.empty()) return options.containerfile;
    for (const char* name : {"Containerfile", "Dockerfile"})
        if (fs::exists(options.context / name)) return options.context / name;
    throw ImageError("no Containerfile or Dockerfile in " + options.context.string() +
                     "; name one with --file");
}

// Runs `action`, turning any failure into a BuildError at `instruction`'s line.
template <typename Action>
auto at_instruction(const std::string& file, const Instruction& instruction, Action action) {
    const auto failed = [&](const std::string& problem) {
        return BuildError(file, instruction.line, instruction.text + ": " + problem);
    };
    try {
        return action();
    } catch (const BuildError&) {
        throw;
    } catch (const InvalidValue& error) {
        throw failed(error.message());
    } catch (const std::exception& error) {
        throw failed(error.what());
    }
}

} // namespace

Builder::Builder(Store& store, const BuildOptions& options, const Progress& progress,
                 Containerfile file, const fs::path& work_dir)
    : store_(store), options_(options), progress_(progress), file_(std::move(file)),
      work_dir_(work_dir), hashes_(store.files().root() / "build-cache" / "file-hashes.json"),
      cache_(store.files().root() / "build-cache") {
    context_.emplace(options.context, IgnoreRules::load(options.context), "the build context");
}

void Builder::say(const std::string& line) const {
    if (progress_) progress_(line);
}

void Builder::fail(const Instruction& instruction, const std::string& problem) const {
    throw BuildError(file_.path, instruction.line, instruction.text + ": " + problem);
}

fs::path Builder::scratch(const std::string& kind, size_t number) const {
    static std::atomic<unsigned> counter{0};
    return work_dir_ / (kind + "-" + std::to_string(number) + "-" + std::to_string(counter++));
}

std::vector<fs::path> Builder::lower_dirs(const std::vector<LayerInfo>& layers) const {
    std::vector<fs::path> dirs;
    for (auto it = layers.rbegin(); it != layers.rend(); ++it) {
        if (!store_.has_layer(*it))
            throw ImageError("layer " + it->diff_id +
                             " is missing from the image store (pruned?); build again");
        dirs.push_back(store_.files().layer_path(it->diff_id));
    }
    return dirs;
}

Lookup Builder::lookup(const Stage* stage) const {
    return [this, stage](std::string_view name) -> std::optional<std::string> {
        const auto& args = stage ? stage->args : global_args_;
        if (stage)
            if (auto value = env_value(stage->image, name)) return value;
        const auto found = args.find(std::string(name));
        if (found != args.end()) return found->second;
        return std::nullopt;
    };
}

std::vector<std::string> Builder::words(const Instruction& instruction, const Stage* stage) const {
    return expand_words(instruction.arguments, lookup(stage), file_.escape);
}

std::string Builder::word(const Instruction& instruction, const Stage* stage) const {
    return expand_word(instruction.arguments, lookup(stage), file_.escape);
}

void Builder::declare_args(const Instruction& instruction, Stage* stage) {
    auto& args = stage ? stage->args : global_args_;
    for (const std::string& raw : split_raw(instruction.arguments, file_.escape)) {
        const size_t equals = raw.find('=');
        const std::string name = raw.substr(0, equals);
        if (!is_arg_name(name))
            fail(instruction, "'" + name + "' is not an ARG name (letters, digits and _)");
        std::optional<std::string> value;
        const auto given = options_.build_args.find(name);
        if (given != options_.build_args.end()) {
            value = given->second;
            used_args_.insert(name);
        } else if (equals != std::string::npos) {
            value = expand_word(raw.substr(equals + 1), lookup(stage), file_.escape);
        } else if (stage && global_args_.count(name)) {
            value = global_args_.at(name); // ARG NAME in a stage takes the global value
        }
        args[name] = value;
    }
}

void Builder::from(const Instruction& instruction) {
    const std::vector<std::string> parts = words(instruction, nullptr);
    if (parts.size() != 1 && !(parts.size() == 3 && to_lower(parts[1]) == "as"))
        fail(instruction, "FROM takes an image and optionally AS NAME");
    if (const auto platform = instruction.flag("platform")) {
        const std::string wanted = expand_word(*platform, lookup(nullptr), file_.escape);
        if (wanted != "linux/" + host_architecture())
            fail(instruction, "--platform " + wanted + " cannot be built here; this machine " +
                                  "builds linux/" + host_architecture());
    }
    Stage stage;
    if (parts.size() == 3) stage.name = to_lower(parts[2]);
    const std::string base = parts[0];
    const auto earlier = std::find_if(stages_.begin(), stages_.end(), [&](const Stage& s) {
        return !s.name.empty() && s.name == to_lower(base);
    });
    if (to_lower(base) == "scratch") {
        stage.image = scratch_image();
    } else if (earlier != stages_.end()) {
        stage.layers = earlier->layers;
        stage.image = earlier->image;
    } else {
        at_instruction(file_.path, instruction, [&] {
            try {
                const ImageDetails details = store_.inspect(base);
                stage.layers = details.layers;
                stage.image =
                    Json::parse(store_.files().read_blob(details.id, "image config " + details.id));
            } catch (const ImageNotFound&) {
                throw InvalidValue("no image '" + base +
                                   "' in the image store; import it or build it first");
            }
        });
    }
    run_config(stage.image);
    const size_t count = stage.layers.size();
    say("--> " + base + ", " + std::to_string(count) + (count == 1 ? " layer" : " layers"));
    stages_.push_back(std::move(stage));
}

StepPlan Builder::plan(const Instruction& instruction, Stage& stage) {
    const std::string& keyword = instruction.keyword;
    if (keyword == "ARG") {
        declare_args(instruction, &stage);
        std::string text;
        for (const auto& [name, value] : stage.args)
            text += name + (value ? "=" + *value : "") + "\n";
        return StepPlan{text, "", nullptr, nullptr};
    }
    if (keyword == "RUN") return plan_run(instruction, stage);
    if (keyword == "COPY" || keyword == "ADD") return plan_copy(instruction, stage);
    if (keyword == "WORKDIR") return plan_workdir(instruction, stage);
    return plan_metadata(instruction, stage);
}

CachedStep Builder::execute(const StepPlan& plan, const Stage& stage, size_t number) {
    CachedStep outcome;
    outcome.config = stage.image;
    if (plan.change_config) plan.change_config(outcome.config);
    if (plan.change_files) {
        StepRoot root(lower_dirs(stage.layers), scratch("step", number));
        plan.change_files(root, stage.image);
        root.unmount();
        if (!directory_is_empty(root.upper())) {
            outcome.layer = store_.create_layer(root.upper(), options_.compression);
            ++result_.layers_created;
        }
    }
    if (!plan.created_by.empty())
        record_step(outcome.config, plan.created_by,
                    outcome.layer ? std::optional<std::string>(outcome.layer->diff_id)
                                  : std::nullopt,
                    now_rfc3339_nanos());
    return outcome;
}

void Builder::step(const Instruction& instruction) {
    Stage& stage = stages_.back();
    const size_t number = step_number_;
    const StepPlan plan =
        at_instruction(file_.path, instruction, [&] { return this->plan(instruction, stage); });
    const std::string key =
        sha256_digest("lcloud-build-cache 1\n" + state_digest(stage.layers, stage.image) + "\n" +
                      instruction.keyword + "\n" + plan.key_text);
    StepReport report{number, instruction.text, false, ""};
    std::optional<CachedStep> outcome;
    if (!options_.no_cache) outcome = cache_.find(key, store_);
    if (outcome) {
        report.cached = true;
        ++result_.cache_hits;
        say("--> cached");
    } else {
        outcome =
            at_instruction(file_.path, instruction, [&] { return execute(plan, stage, number); });
        cache_.save(key, *outcome);
        say(outcome->layer ? "--> layer " + short_digest(outcome->layer->diff_id) : "--> done");
    }
    stage.image = std::move(outcome->config);
    if (outcome->layer) {
        report.layer = outcome->layer->diff_id;
        stage.layers.push_back(*outcome->layer);
    }
    result_.reports.push_back(report);
}

BuildResult Builder::run() {
    result_.reference = parse_reference(options_.tag);
    bool seen_from = false;
    for (const Instruction& instruction : file_.instructions) {
        seen_from = seen_from || instruction.keyword == "FROM";
        if (seen_from) ++total_steps_;
    }
    for (const Instruction& instruction : file_.instructions) {
        if (stages_.empty() && instruction.keyword == "ARG") {
            at_instruction(file_.path, instruction, [&] { declare_args(instruction, nullptr); });
            continue;
        }
        ++step_number_;
        ++result_.steps;
        say("STEP " + std::to_string(step_number_) + "/" + std::to_string(total_steps_) + ": " +
            instruction.text);
        if (instruction.keyword == "FROM") {
            from(instruction);
            result_.reports.push_back({step_number_, instruction.text, false, ""});
        } else {
            step(instruction);
        }
    }
    std::string unused;
    for (const auto& [name, value] : options_.build_args)
        if (!used_args_.count(name)) unused += (unused.empty() ? "" : " ") + name;
    if (!unused.empty()) say("[Warning] one or more build args were not consumed: " + unused);

    const Stage& last = stages_.back();
    say("COMMIT " + result_.reference.str());
    const ImportedImage image = store_.commit(last.layers, last.image.dump(), result_.reference);
    hashes_.save();
    result_.image_id = image.id;
    result_.manifest_digest = image.manifest_digest;
    say("--> " + short_digest(image.id));
    say("Successfully tagged " + result_.reference.str());
    return result_;
}

BuildResult build_image(Store& store, const BuildOptions& options, const Progress& progress) {
    if (options.tag.empty())
        throw UsageError("image build needs a NAME:TAG for the image it makes (--tag)");
    parse_reference(options.tag);
    std::error_code error;
    if (!fs::is_directory(options.context, error))
        throw ImageError("build context " + options.context.string() + " is not a directory");
    const fs::path path = find_containerfile(options);
    const auto text = state::read_file(path);
    if (!text) throw ImageError("Containerfile " + path.string() + " does not exist");
    Containerfile file = parse_containerfile(*text, path.string());

    const FileLock lock(store.files().store_lock_path(), FileLock::Mode::shared);
    static std::atomic<unsigned> counter{0};
    const fs::path work_dir =
        options.work_dir.empty()
            ? store.files().temp_path("build")
            : options.work_dir /
                  ("lcloud-build-" + std::to_string(::getpid()) + "-" + std::to_string(counter++));
    if (::mkdir(work_dir.c_str(), 0700) != 0)
        throw_errno("create build directory", work_dir.string());
    const RemoveGuard work_guard(work_dir);
    Builder builder(store, options, progress, std::move(file), work_dir);
    return builder.run();
}

} // namespace lcloud::runtime::image::build

#pragma once

// The builder behind build_image (build.hpp): stages, steps, the cache. builder.cpp runs the
// build and FROM/ARG, metadata.cpp the instructions that change only the config, file_steps.cpp
// those that change files (RUN, COPY, ADD, WORKDIR).

#include "runtime/image/build/build.hpp"
#include "runtime/image/build/cache.hpp"
#include "runtime/image/build/containerfile.hpp"
#include "runtime/image/build/source_tree.hpp"
#include "runtime/image/build/step_root.hpp"
#include "runtime/image/build/words.hpp"

#include <filesystem>
#include <functional>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <set>
#include <string>
#include <vector>

namespace lcloud::runtime::image::build {

struct Stage {
    std::string name; // of FROM ... AS name, lower case; may be empty
    std::vector<LayerInfo> layers;
    nlohmann::json image; // the whole image config
    // The ARGs declared in this stage; nullopt: declared without a value.
    std::map<std::string, std::optional<std::string>> args;
    bool cmd_set = false; // CMD given in this stage (ENTRYPOINT then keeps it)
};

// What one step does, worked out (and checked) before the cache is asked.
struct StepPlan {
    std::string key_text;   // what the step depends on besides the state before it
    std::string created_by; // for history; empty: no history entry (ARG)
    std::function<void(nlohmann::json& image)> change_config;
    // Changes files in the step's root; `image` is the config before the step.
    std::function<void(StepRoot& root, const nlohmann::json& image)> change_files;
};

class Builder {
  public:
    Builder(Store& store, const BuildOptions& options, const Progress& progress, Containerfile file,
            const std::filesystem::path& work_dir);
    BuildResult run();

  private:
    void from(const Instruction& instruction);
    void step(const Instruction& instruction);
    StepPlan plan(const Instruction& instruction, Stage& stage);
    CachedStep execute(const StepPlan& plan, const Stage& stage, size_t number);
    void declare_args(const Instruction& instruction, Stage* stage);
    void commit_stage();

    // metadata.cpp
    StepPlan plan_env_or_label(const Instruction& instruction, const Stage& stage);
    StepPlan plan_command(const Instruction& instruction, Stage& stage);
    StepPlan plan_healthcheck(const Instruction& instruction);
    StepPlan plan_metadata(const Instruction& instruction, Stage& stage);

    // file_steps.cpp
    StepPlan plan_run(const Instruction& instruction, const Stage& stage);
    StepPlan plan_copy(const Instruction& instruction, const Stage& stage);
    StepPlan plan_workdir(const Instruction& instruction, const Stage& stage);
    const Stage& source_stage(const Instruction& instruction, const std::string& from);
    std::vector<std::string> run_env(const Stage& stage) const;

    // Variables as a stage's instructions see them: its ENV, then its ARGs; before the first
    // FROM (stage null), the global ARGs.
    Lookup lookup(const Stage* stage) const;
    std::vector<std::string> words(const Instruction& instruction, const Stage* stage) const;
    std::string word(const Instruction& instruction, const Stage* stage) const;
    [[noreturn]] void fail(const Instruction& instruction, const std::string& problem) const;
    std::vector<std::filesystem::path> lower_dirs(const std::vector<LayerInfo>& layers) const;
    std::filesystem::path scratch(const std::string& kind, size_t number) const;
    void say(const std::string& line) const;

    Store& store_;
    const BuildOptions& options_;
    const Progress& progress_;
    Containerfile file_;
    std::filesystem::path work_dir_;
    std::optional<SourceTree> context_;
    FileHashes hashes_;
    BuildCache cache_;
    std::map<std::string, std::optional<std::string>> global_args_;
    std::set<std::string> used_args_;
    std::vector<Stage> stages_;
    // Images named by COPY --from, loaded once.
    std::map<std::string, Stage> images_;
    size_t total_steps_ = 0;
    size_t step_number_ = 0;
    const Instruction* current_ = nullptr;
    BuildResult result_;
};

} // namespace lcloud::runtime::image::build

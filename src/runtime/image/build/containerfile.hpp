#pragma once

// A Containerfile (Dockerfile) as instructions: parser directives (# escape=), comments, line
// continuations, keywords and leading --flags. What the arguments mean is the builder's business.

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace lcloud::runtime::image::build {

struct Instruction {
    std::string keyword;                                    // upper case: "RUN"
    std::vector<std::pair<std::string, std::string>> flags; // --chown=1:1 -> {"chown", "1:1"}
    std::string arguments; // after the keyword and the flags, continuations joined
    size_t line = 0;       // where it starts, from 1
    std::string text;      // as written, continuations joined: for messages and history

    std::optional<std::string> flag(std::string_view name) const;
};

struct Containerfile {
    std::string path; // as shown in messages
    char escape = '\\';
    std::vector<Instruction> instructions;
};

// Throws BuildError naming path:line for an unknown instruction, one without arguments, a flag
// the instruction does not take, or an instruction other than ARG before the first FROM.
Containerfile parse_containerfile(std::string_view content, const std::string& path);

// An exec-form argument list (a JSON array of strings), or nullopt for the shell form.
std::optional<std::vector<std::string>> exec_form(std::string_view arguments);

} // namespace lcloud::runtime::image::build

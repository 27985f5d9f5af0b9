#pragma once

// Path patterns: the globs of COPY sources (Go's filepath.Match) and the rules of .dockerignore
// (moby's patternmatcher: `**` across directories, `!` exceptions, the last matching rule wins,
// a rule that matches a directory matches everything below it).

#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

namespace lcloud::runtime::image::build {

// `*` any run of characters but '/', `?` one character but '/', `[a-z]`/`[^a-z]` a class, `\`
// escapes. With `double_star`, `**` also crosses '/' and `**/` matches no directory too.
// Throws lcloud::InvalidValue for a malformed class.
bool glob_match(std::string_view pattern, std::string_view path, bool double_star);

bool has_glob(std::string_view pattern);

// "a//b/./c/" -> "a/b/c", leading '/' dropped, ".." never above the root; "" for the root.
std::string clean_relative(std::string_view path);

class IgnoreRules {
  public:
    IgnoreRules() = default;
    // The rules of a .dockerignore's text: one pattern a line, '#' comments, '!' exceptions.
    static IgnoreRules parse(std::string_view text);
    // CONTEXT/.dockerignore, or no rules when there is none.
    static IgnoreRules load(const std::filesystem::path& context);

    // `path` is relative to the context, '/'-separated ("src/main.c").
    bool excluded(std::string_view path) const;
    // Whether something below an excluded directory may still be included by an exception, so
    // that the directory must be walked.
    bool has_exceptions() const { return has_exceptions_; }
    bool empty() const { return rules_.empty(); }
    // The rules, for cache keys.
    std::string text() const;

  private:
    struct Rule {
        std::string pattern;
        bool exception = false;
    };
    std::vector<Rule> rules_;
    bool has_exceptions_ = false;
};

} // namespace lcloud::runtime::image::build

#include "runtime/image/build/ignore.hpp"

#include "common/strings.hpp"
#include "state/atomic_file.hpp"

namespace lcloud::runtime::image::build {

namespace {

// Matches one class "[...]" at pattern[p] against c; returns the position after it.
size_t match_class(std::string_view pattern, size_t p, char c, bool& matched) {
    const size_t start = p;
    ++p;
    bool negate = false;
    if (p < pattern.size() && (pattern[p] == '^' || pattern[p] == '!')) {
        negate = true;
        ++p;
    }
    bool found = false;
    bool first = true;
    while (p < pattern.size() && (first || pattern[p] != ']')) {
        first = false;
        char low = pattern[p];
        if (low == '\\' && p + 1 < pattern.size()) low = pattern[++p];
        ++p;
        char high = low;
        if (p + 1 < pattern.size() && pattern[p] == '-' && pattern[p + 1] != ']') {
            high = pattern[p + 1];
            if (high == '\\' && p + 2 < pattern.size()) high = pattern[++p + 1];
            p += 2;
        }
        if (c >= low && c <= high) found = true;
    }
    if (p >= pattern.size())
        throw InvalidValue("the pattern '" + std::string(pattern) + "' has a '[' at " +
                           std::to_string(start) + " that is never closed");
    matched = found != negate && c != '/';
    return p + 1;
}

bool match_at(std::string_view pattern, size_t p, std::string_view path, size_t s,
              bool double_star) {
    while (p < pattern.size()) {
        const char c = pattern[p];
        if (c == '*') {
            const bool twice = double_star && p + 1 < pattern.size() && pattern[p + 1] == '*';
            if (twice) {
                size_t next = p + 2;
                // "**/" also matches no directory at all.
                if (next < pattern.size() && pattern[next] == '/' &&
                    match_at(pattern, next + 1, path, s, double_star))
                    return true;
                for (size_t i = s; i <= path.size(); ++i)
                    if (match_at(pattern, next, path, i, double_star)) return true;
                return false;
            }
            while (p < pattern.size() && pattern[p] == '*')
                ++p;
            for (size_t i = s;; ++i) {
                if (match_at(pattern, p, path, i, double_star)) return true;
                if (i >= path.size() || path[i] == '/') return false;
            }
        }
        if (s >= path.size()) return false;
        if (c == '?') {
            if (path[s] == '/') return false;
            ++p;
            ++s;
        } else if (c == '[') {
            bool matched = false;
            p = match_class(pattern, p, path[s], matched);
            if (!matched) return false;
            ++s;
        } else {
            char literal = c;
            if (c == '\\' && p + 1 < pattern.size()) literal = pattern[++p];
            if (path[s] != literal) return false;
            ++p;
            ++s;
        }
    }
    return s == path.size();
}

} // namespace

bool glob_match(std::string_view pattern, std::string_view path, bool double_star) {
    return match_at(pattern, 0, path, 0, double_star);
}

bool has_glob(std::string_view pattern) {
    return pattern.find_first_of("*?[") != std::string_view::npos;
}

std::string clean_relative(std::string_view path) {
    std::vector<std::string> parts;
    for (const std::string& part : split(path, '/')) {
        if (part.empty() || part == ".") continue;
        if (part == "..") {
            if (!parts.empty()) parts.pop_back();
            continue;
        }
        parts.push_back(part);
    }
    std::string clean;
    for (const std::string& part : parts)
        clean += (clean.empty() ? "" : "/") + part;
    return clean;
}

IgnoreRules IgnoreRules::parse(std::string_view text) {
    IgnoreRules rules;
    for (const std::string& raw : split(text, '\n')) {
        std::string_view line = trim(raw);
        if (line.empty() || line.front() == '#') continue;
        Rule rule;
        if (line.front() == '!') {
            rule.exception = true;
            line = trim(line.substr(1));
        }
        rule.pattern = clean_relative(line);
        if (rule.pattern.empty()) continue; // "/" or ".": the context itself is never ignored
        glob_match(rule.pattern, "", true); // malformed classes fail here, not mid-walk
        rules.has_exceptions_ = rules.has_exceptions_ || rule.exception;
        rules.rules_.push_back(std::move(rule));
    }
    return rules;
}

IgnoreRules IgnoreRules::load(const std::filesystem::path& context) {
    const auto text = state::read_file(context / ".dockerignore");
    return text ? parse(*text) : IgnoreRules();
}

bool IgnoreRules::excluded(std::string_view path) const {
    bool excluded = false;
    for (const Rule& rule : rules_) {
        bool matched = glob_match(rule.pattern, path, true);
        // A rule that matches a parent directory matches what is in it.
        for (size_t slash = path.find('/'); !matched && slash != std::string_view::npos;
             slash = path.find('/', slash + 1))
            matched = glob_match(rule.pattern, path.substr(0, slash), true);
        if (matched) excluded = !rule.exception;
    }
    return excluded;
}

std::string IgnoreRules::text() const {
    std::string text;
    for (const Rule& rule : rules_)
        text += (rule.exception ? "!" : "") + rule.pattern + "\n";
    return text;
}

} // namespace lcloud::runtime::image::build

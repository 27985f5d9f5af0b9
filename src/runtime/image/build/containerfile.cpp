#include "runtime/image/build/containerfile.hpp"

#include "common/strings.hpp"
#include "runtime/image/build/build_error.hpp"

#include <algorithm>
#include <nlohmann/json.hpp>

namespace lcloud::runtime::image::build {

namespace {

struct Known {
    std::string_view keyword;
    std::vector<std::string_view> flags;
};

const std::vector<Known>& known_instructions() {
    static const std::vector<Known> known = {
        {"FROM", {"platform"}},
        {"ARG", {}},
        {"ENV", {}},
        {"LABEL", {}},
        {"WORKDIR", {}},
        {"USER", {}},
        {"COPY", {"chown", "chmod", "from", "link"}},
        {"ADD", {"chown", "chmod", "link"}},
        {"RUN", {}},
        {"EXPOSE", {}},
        {"ENTRYPOINT", {}},
        {"CMD", {}},
        {"HEALTHCHECK", {"interval", "timeout", "start-period", "start-interval", "retries"}},
        {"SHELL", {}},
        {"STOPSIGNAL", {}},
        {"VOLUME", {}},
        {"ONBUILD", {}},
        {"MAINTAINER", {}},
    };
    return known;
}

std::string_view rtrim(std::string_view text) {
    while (!text.empty() && (text.back() == ' ' || text.back() == '\t' || text.back() == '\r'))
        text.remove_suffix(1);
    return text;
}

std::string_view ltrim(std::string_view text) {
    while (!text.empty() && (text.front() == ' ' || text.front() == '\t'))
        text.remove_prefix(1);
    return text;
}

bool is_comment_or_blank(std::string_view line) {
    const std::string_view rest = ltrim(rtrim(line));
    return rest.empty() || rest.front() == '#';
}

// "# key=value" at the top of the file; nullopt when the line is none.
std::optional<std::pair<std::string, std::string>> directive(std::string_view line) {
    std::string_view rest = ltrim(rtrim(line));
    if (rest.empty() || rest.front() != '#') return std::nullopt;
    rest = ltrim(rest.substr(1));
    const size_t equals = rest.find('=');
    if (equals == std::string_view::npos) return std::nullopt;
    const std::string key = to_lower(trim(rest.substr(0, equals)));
    if (key.empty() || key.find_first_of(" \t") != std::string::npos) return std::nullopt;
    return std::make_pair(key, std::string(trim(rest.substr(equals + 1))));
}

std::vector<std::string_view> lines_of(std::string_view content) {
    std::vector<std::string_view> lines;
    size_t start = 0;
    while (start < content.size()) {
        size_t end = content.find('\n', start);
        if (end == std::string_view::npos) end = content.size();
        lines.push_back(content.substr(start, end - start));
        start = end + 1;
    }
    return lines;
}

class Parser {
  public:
    Parser(std::string_view content, const std::string& path) : lines_(lines_of(content)) {
        file_.path = path;
    }

    Containerfile parse() {
        read_directives();
        while (next_ < lines_.size()) {
            if (is_comment_or_blank(lines_[next_])) {
                ++next_;
                continue;
            }
            const size_t line = next_ + 1;
            const std::string text = logical_line();
            if (!text.empty()) file_.instructions.push_back(instruction(text, line));
        }
        check_order();
        return std::move(file_);
    }

  private:
    [[noreturn]] void fail(size_t line, const std::string& problem) const {
        throw BuildError(file_.path, line, problem);
    }

    void read_directives() {
        for (; next_ < lines_.size(); ++next_) {
            const auto found = directive(lines_[next_]);
            if (!found) return;
            if (found->first == "escape") {
                if (found->second != "\\" && found->second != "`")
                    fail(next_ + 1,
                         "the escape directive takes \\ or `, not '" + found->second + "'");
                file_.escape = found->second.front();
            }
            // "syntax" and others name frontends we do not have: comments to us.
        }
    }

    // The instruction starting at next_, continuation lines joined; comment and blank lines
    // inside a continuation are skipped, as Docker does.
    std::string logical_line() {
        std::string text;
        for (;;) {
            const std::string_view line = rtrim(lines_[next_++]);
            if (line.empty() || line.back() != file_.escape) {
                text += line;
                break;
            }
            text += line.substr(0, line.size() - 1);
            while (next_ < lines_.size() && is_comment_or_blank(lines_[next_]))
                ++next_;
            if (next_ >= lines_.size()) break;
        }
        return std::string(trim(text));
    }

    Instruction instruction(const std::string& text, size_t line) const {
        Instruction result;
        result.line = line;
        result.text = text;
        const size_t end = text.find_first_of(" \t");
        const std::string word = text.substr(0, end);
        result.keyword = to_upper(word);
        const auto known =
            std::find_if(known_instructions().begin(), known_instructions().end(),
                         [&](const Known& k) { return k.keyword == result.keyword; });
        if (known == known_instructions().end()) {
            // closest_match compares in lower case.
            std::vector<std::string> lower;
            for (const Known& k : known_instructions())
                lower.push_back(to_lower(k.keyword));
            const std::vector<std::string_view> names(lower.begin(), lower.end());
            auto suggestion = closest_match(result.keyword, names);
            if (suggestion) suggestion = to_upper(*suggestion);
            fail(line, "unknown instruction '" + word + "'" +
                           (suggestion ? "; did you mean " + *suggestion + "?" : ""));
        }
        std::string_view rest =
            end == std::string::npos ? "" : trim(std::string_view(text).substr(end));
        // Flags only where Docker has them: `CMD --help` is an argument.
        while (!known->flags.empty() && rest.substr(0, 2) == "--") {
            const size_t stop = std::min(rest.find_first_of(" \t"), rest.size());
            const std::string_view flag = rest.substr(2, stop - 2);
            const size_t equals = flag.find('=');
            const std::string name(flag.substr(0, equals));
            if (std::find(known->flags.begin(), known->flags.end(), name) == known->flags.end())
                fail(line, result.keyword + " does not take --" + name + " (it takes " +
                               flag_list(*known) + ")");
            result.flags.emplace_back(
                name, equals == std::string_view::npos ? "" : std::string(flag.substr(equals + 1)));
            rest = trim(rest.substr(stop));
        }
        if (rest.empty()) fail(line, result.keyword + " needs arguments");
        result.arguments = std::string(rest);
        return result;
    }

    static std::string to_upper(std::string text) {
        for (char& c : text)
            if (c >= 'a' && c <= 'z') c = static_cast<char>(c - 'a' + 'A');
        return text;
    }

    static std::string flag_list(const Known& known) {
        std::string list;
        for (const auto& flag : known.flags)
            list += (list.empty() ? "--" : ", --") + std::string(flag);
        return list;
    }

    void check_order() const {
        for (const Instruction& instruction : file_.instructions) {
            if (instruction.keyword == "FROM") return;
            if (instruction.keyword != "ARG")
                fail(instruction.line,
                     instruction.keyword + " before the first FROM; only ARG may come before it");
        }
        throw BuildError(file_.path, lines_.empty() ? 1 : lines_.size(),
                         "no FROM instruction; a build starts FROM an image or scratch");
    }

    std::vector<std::string_view> lines_;
    size_t next_ = 0;
    Containerfile file_;
};

} // namespace

std::optional<std::string> Instruction::flag(std::string_view name) const {
    std::optional<std::string> value;
    for (const auto& [key, given] : flags)
        if (key == name) value = given;
    return value;
}

Containerfile parse_containerfile(std::string_view content, const std::string& path) {
    return Parser(content, path).parse();
}

std::optional<std::vector<std::string>> exec_form(std::string_view arguments) {
    const std::string_view text = trim(arguments);
    if (text.empty() || text.front() != '[') return std::nullopt;
    try {
        const nlohmann::json json = nlohmann::json::parse(text);
        if (!json.is_array()) return std::nullopt;
        std::vector<std::string> args;
        for (const auto& item : json) {
            if (!item.is_string()) return std::nullopt;
            args.push_back(item.get<std::string>());
        }
        return args;
    } catch (const nlohmann::json::exception&) {
        return std::nullopt; // not JSON: the shell form, as Docker reads it
    }
}

} // namespace lcloud::runtime::image::build

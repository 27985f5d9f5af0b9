// Every file under corpus/invalid/ must produce exactly the diagnostics in its .expect file;
// every file under corpus/valid/ must load with no error (and the warnings in its .expect).
#include "project/loader.hpp"
#include "state/atomic_file.hpp"

#include <doctest/doctest.h>
#include <filesystem>
#include <map>

namespace fs = std::filesystem;
using namespace lcloud::project;

namespace {

const fs::path corpus_dir = fs::path(LCLOUD_TEST_DATA) / "project" / "corpus";

// Files are parsed as if they were corpus/project/lcloud.yaml, so relative paths meet real files.
std::vector<std::string> diagnose(const fs::path& file) {
    const auto text = lcloud::state::read_file(file);
    REQUIRE(text);
    const std::map<std::string, std::string> variables = {
        {"PORT", "8500"}, {"EMPTY", ""}, {"TAG", "1.2"}};
    Diagnostics diagnostics("lcloud.yaml");
    parse_project(
        *text, corpus_dir / "project" / "lcloud.yaml",
        [&](std::string_view name) -> std::optional<std::string> {
            const auto it = variables.find(std::string(name));
            if (it == variables.end()) return std::nullopt;
            return it->second;
        },
        diagnostics);
    std::vector<std::string> lines;
    for (const auto& diagnostic : diagnostics.sorted())
        lines.push_back(format(diagnostic));
    return lines;
}

std::vector<std::string> expected_lines(const fs::path& yaml_file) {
    auto expect_file = yaml_file;
    expect_file.replace_extension(".expect");
    std::vector<std::string> lines;
    const auto text = lcloud::state::read_file(expect_file);
    if (!text) return lines;
    size_t start = 0;
    while (start < text->size()) {
        const size_t end = text->find('\n', start);
        lines.push_back(text->substr(start, end - start));
        if (end == std::string::npos) break;
        start = end + 1;
    }
    return lines;
}

std::vector<fs::path> corpus(const std::string& kind) {
    std::vector<fs::path> files;
    for (const auto& entry : fs::directory_iterator(corpus_dir / kind))
        if (entry.path().extension() == ".yaml") files.push_back(entry.path());
    std::sort(files.begin(), files.end());
    return files;
}

} // namespace

TEST_CASE("corpus: every invalid project file gets exactly its diagnostics") {
    const auto files = corpus("invalid");
    CHECK(files.size() >= 40);
    for (const auto& file : files) {
        CAPTURE(file.filename().string());
        const auto expected = expected_lines(file);
        REQUIRE_MESSAGE(!expected.empty(), "missing .expect for " << file);
        CHECK(diagnose(file) == expected);
    }
}

TEST_CASE("corpus: every valid project file loads without errors") {
    const auto files = corpus("valid");
    CHECK(files.size() >= 5);
    for (const auto& file : files) {
        CAPTURE(file.filename().string());
        CHECK(diagnose(file) == expected_lines(file));
    }
}

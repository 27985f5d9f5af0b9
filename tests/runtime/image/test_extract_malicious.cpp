#include "extract_support.hpp"
#include "runtime/image/errors.hpp"

#include <doctest/doctest.h>

#include <functional>

using namespace lcloud::test::image;
using lcloud::runtime::image::ExtractLimits;
using lcloud::runtime::image::ImageError;
using lcloud::runtime::image::UnsafeArchive;
using lcloud::test::TempDir;
namespace fs = std::filesystem;

namespace {

// A layer directory next to a sentinel directory that every archive aims at, and an outside
// file that hardlinks aim at.
struct Sandbox {
    TempDir temp;
    fs::path layer = temp.path() / "layer";
    fs::path sentinel = temp.path() / "sentinel";
    fs::path secret = temp.path() / "secret";
    Sandbox() {
        fs::create_directory(sentinel);
        write_file(secret, "outside");
    }
};

struct Case {
    std::string name;
    // Builds the archive; may use the sandbox's absolute paths.
    std::function<std::string(const Sandbox&)> archive;
    std::string message; // part of the error
    ExtractLimits limits{};
};

std::string tar_of(std::vector<Entry> entries) {
    return make_tar(entries);
}

std::vector<Case> corpus() {
    ExtractLimits few_entries;
    few_entries.max_entries = 100;
    ExtractLimits small;
    small.max_bytes = 1 << 20;
    return {
        {"../ escape", [](auto&) { return tar_of({file("../sentinel/owned", "x")}); }, "'..'"},
        {"../ escape in the middle",
         [](auto&) {
             return tar_of({dir("a"), file("a/../../sentinel/owned", "x")});
         },
         "'..'"},
        {"absolute path",
         [](const Sandbox& s) { return tar_of({file((s.sentinel / "owned").string(), "x")}); },
         "absolute path"},
        {"symlinked parent, absolute",
         [](const Sandbox& s) {
             return tar_of({symlink_to("a", s.sentinel.string()), file("a/owned", "x")});
         },
         "parent 'a' is a symlink"},
        {"symlinked parent, relative",
         [](auto&) {
             return tar_of({symlink_to("a", "../sentinel"), file("a/owned", "x")});
         },
         "parent 'a' is a symlink"},
        {"symlinked parent, chained",
         [](const Sandbox& s) {
             return tar_of({symlink_to("b", s.sentinel.string()), symlink_to("a", "b"),
                            file("a/owned", "x")});
         },
         "is a symlink"},
        {"symlinked grandparent, directory entry",
         [](const Sandbox& s) {
             return tar_of({dir("d"), symlink_to("d/a", s.sentinel.string()), dir("d/a/sub")});
         },
         "parent 'd/a' is a symlink"},
        {"file replaced by a symlink, then written through",
         [](const Sandbox& s) {
             return tar_of(
                 {file("a", "x"), symlink_to("a", s.sentinel.string()), file("a/owned", "")});
         },
         "parent 'a' is a symlink"},
        {"directory replaced by a symlink",
         [](const Sandbox& s) {
             return tar_of({dir("a"), symlink_to("a", s.sentinel.string()), file("a/owned", "x")});
         },
         "would replace a directory"},
        {"symlink, then a hardlink through it",
         [](const Sandbox& s) {
             return tar_of({symlink_to("a", s.temp.path().string()), hardlink("h", "a/secret")});
         },
         "parent 'a' is a symlink"},
        {"hardlink written through a symlinked parent",
         [](const Sandbox& s) {
             return tar_of(
                 {file("f", "x"), symlink_to("a", s.sentinel.string()), hardlink("a/owned", "f")});
         },
         "parent 'a' is a symlink"},
        {"hardlink to outside, relative",
         [](auto&) { return tar_of({hardlink("h", "../secret")}); }, "'..'"},
        {"hardlink to outside, absolute",
         [](const Sandbox& s) { return tar_of({hardlink("h", s.secret.string())}); },
         "absolute path"},
        {"hardlink to itself",
         [](auto&) {
             return tar_of({file("h", "x"), hardlink("./h", "h")});
         },
         "to itself"},
        {"hardlink to a file not in the layer",
         [](auto&) { return tar_of({hardlink("h", "nothing")}); }, "not in the layer"},
        {"whiteout of ..",
         [](auto&) {
             return tar_of({dir("a"), file("a/.wh...", "")});
         },
         "'..' is none"},
        {"whiteout of .", [](auto&) { return tar_of({file(".wh..", "")}); }, "'.' is none"},
        {"whiteout of nothing", [](auto&) { return tar_of({file(".wh.", "")}); }, "'' is none"},
        {"whiteout used as a directory", [](auto&) { return tar_of({file(".wh.a/owned", "")}); },
         "cannot be a directory"},
        {"whiteout through a symlinked parent",
         [](const Sandbox& s) {
             return tar_of({symlink_to("a", s.sentinel.string()), file("a/.wh.owned", "")});
         },
         "parent 'a' is a symlink"},
        {"opaque marker through a symlinked parent",
         [](const Sandbox& s) {
             return tar_of({symlink_to("a", s.sentinel.string()), file("a/.wh..wh..opq", "")});
         },
         "parent 'a' is a symlink"},
        {"whiteout of a file the same layer adds",
         [](auto&) {
             return tar_of({file("x", "1"), file(".wh.x", "")});
         },
         "also adds"},
        {"device where a directory should be",
         [](auto&) {
             return tar_of({node("d", AE_IFCHR, 0600, 1, 3), file("d/owned", "x")});
         },
         "parent 'd' is a character device"},
        {"file where a directory should be",
         [](auto&) {
             return tar_of({file("d", "x"), dir("d/sub")});
         },
         "parent 'd' is a regular file"},
        {"the layer root as a device",
         [](auto&) { return tar_of({node(".", AE_IFCHR, 0600, 1, 3)}); }, "layer root"},
        {"the layer root as a hardlink",
         [](auto&) {
             return tar_of({file("f", ""), hardlink("./", "f")});
         },
         "layer root"},
        {"the layer root as a symlink",
         [](const Sandbox& s) { return tar_of({symlink_to("./", s.sentinel.string())}); },
         "layer root"},
        {"a directory with data, which tar takes for a damaged header",
         [](auto&) { return tar_of({file("d/", "x")}); }, "Damaged"},
        {"absurd entry count",
         [](auto&) {
             std::vector<Entry> entries;
             for (int i = 0; i <= 100; ++i)
                 entries.push_back(file("f" + std::to_string(i), ""));
             return tar_of(entries);
         },
         "more than 100 entries", few_entries},
        {"absurd declared size (1 TiB, no data)",
         [](auto&) { return raw_tar_header("huge", 1ull << 40) + std::string(1024, '\0'); },
         "declares 1099511627776 bytes"},
        {"sizes past the limit",
         [](auto&) {
             return tar_of(
                 {file("a", std::string(600'000, 'a')), file("b", std::string(600'000, 'b'))});
         },
         "the limit", small},
        {"decompression bomb behind the tar end",
         [](auto&) {
             return compress(tar_of({file("a", "x")}) + std::string(8 << 20, '\0'), Filter::gzip);
         },
         "exceeds 1048576 bytes", small},
        {"truncated archive",
         [](auto&) {
             const std::string tar = tar_of({file("a", std::string(100'000, 'a'))});
             return tar.substr(0, 20'000);
         },
         "corrupt"},
        {"not an archive", [](auto&) { return std::string("just some text, no tar"); }, "tar"},
    };
}

} // namespace

TEST_CASE("extract_layer refuses every archive of the malicious corpus and leaves nothing") {
    for (const Case& item : corpus()) {
        INFO(item.name);
        Sandbox sandbox;
        std::string message;
        bool unsafe = false;
        try {
            extract_blob(item.archive(sandbox), sandbox.layer, item.limits);
        } catch (const UnsafeArchive& error) {
            unsafe = true;
            message = error.what();
        } catch (const ImageError& error) {
            message = error.what();
        }
        INFO("message: " << message);
        CHECK(message.find(item.message) != std::string::npos);
        // Corrupt streams are errors of their own; everything else is an attack.
        if (item.message != "corrupt" && item.message != "tar" && item.message != "Damaged")
            CHECK(unsafe);
        CHECK(listing(sandbox.sentinel).empty());
        CHECK(xattr_of(sandbox.sentinel, "trusted.overlay.opaque") == "<none>");
        CHECK(read_file(sandbox.secret) == "outside");
        CHECK(lstat_of(sandbox.secret).st_nlink == 1);
        CHECK_FALSE(fs::exists(fs::symlink_status(sandbox.layer)));
        CHECK(listing(sandbox.temp.path()) == "secret\nsentinel\n");
    }
}

TEST_CASE("extract_layer refuses a destination that exists, and leaves it alone") {
    Sandbox sandbox;
    fs::create_directory(sandbox.layer);
    write_file(sandbox.layer / "mine", "keep");
    CHECK_THROWS_AS(extract_blob(make_tar({file("a", "x")}), sandbox.layer), lcloud::SystemError);
    CHECK(read_file(sandbox.layer / "mine") == "keep");
}

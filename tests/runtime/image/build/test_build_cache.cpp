#include "build_support.hpp"

#include <doctest/doctest.h>

#include <fcntl.h>
#include <sys/stat.h>

using namespace lcloud::test::image;
namespace fs = std::filesystem;

namespace {

constexpr const char* containerfile = R"(FROM busybox:test
COPY first.txt /first.txt
COPY . /app/
RUN cat /app/second.txt > /copied.txt
ENV DONE=1
)";

std::vector<bool> cached_steps(const lcloud::runtime::image::build::BuildResult& result) {
    std::vector<bool> cached;
    for (const auto& report : result.reports)
        cached.push_back(report.cached);
    return cached;
}

} // namespace

TEST_CASE("image build: changing a copied file rebuilds from its COPY on; ignored files do not") {
    BuildSandbox box;
    box.import_busybox();
    box.write("first.txt", "first\n");
    box.write("second.txt", "second\n");
    box.write("notes.log", "log 1\n");
    box.write("build/out.o", "object 1\n");
    box.write("build/keep.txt", "kept\n");
    box.write(".dockerignore", "# build output\n*.log\nbuild\n!build/keep.txt\n");
    const auto first = box.build(containerfile);
    INFO(box.output_text());
    CHECK(cached_steps(first) == std::vector<bool>{false, false, false, false, false});
    {
        const MountedImage image(box.store, "app:test");
        CHECK(read_file(image.root() / "app/second.txt") == "second\n");
        CHECK(read_file(image.root() / "app/build/keep.txt") == "kept\n");
        CHECK_FALSE(fs::exists(image.root() / "app/notes.log"));
        CHECK_FALSE(fs::exists(image.root() / "app/build/out.o"));
        CHECK(read_file(image.root() / "copied.txt") == "second\n");
    }

    // Ignored files, and a new mtime without new content, change nothing.
    box.write("notes.log", "log 2\n");
    box.write("build/out.o", "object 2\n");
    const struct timespec times[2] = {{1'000'000'000, 0}, {1'000'000'000, 0}};
    REQUIRE(::utimensat(AT_FDCWD, (box.context / "second.txt").c_str(), times, 0) == 0);
    const auto second = box.build(containerfile);
    CHECK(cached_steps(second) == std::vector<bool>{false, true, true, true, true});
    CHECK(second.containers_run == 0);
    CHECK(second.image_id == first.image_id);

    // A copied file that changes: its COPY and every step after it run again.
    box.write("second.txt", "second, changed\n");
    const auto third = box.build(containerfile);
    CHECK(cached_steps(third) == std::vector<bool>{false, true, false, false, false});
    CHECK(third.containers_run == 1);
    {
        const MountedImage image(box.store, "app:test");
        CHECK(read_file(image.root() / "copied.txt") == "second, changed\n");
    }
    // A file the exception brings back counts too.
    box.write("build/keep.txt", "kept, changed\n");
    const auto fourth = box.build(containerfile);
    CHECK(cached_steps(fourth) == std::vector<bool>{false, true, false, false, false});

    // An ignored file is not in the context, even when named.
    try {
        box.build("FROM busybox:test\nCOPY notes.log /\n");
        FAIL("an ignored file was copied");
    } catch (const lcloud::runtime::image::build::BuildError& error) {
        CHECK(std::string(error.what())
                  .find("Containerfile:2: COPY notes.log /: 'notes.log' is "
                        "excluded from the build context by .dockerignore") != std::string::npos);
    }
    CHECK(leftovers(box).empty());
}

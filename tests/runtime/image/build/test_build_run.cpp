#include "build_support.hpp"

#include <doctest/doctest.h>

#include <set>
#include <sstream>

using namespace lcloud::test::image;
using lcloud::runtime::image::build::BuildError;
namespace fs = std::filesystem;

namespace {

// The interface names in a /proc/net/dev.
std::set<std::string> interfaces(const std::string& net_dev) {
    std::set<std::string> names;
    std::istringstream lines(net_dev);
    for (std::string line; std::getline(lines, line);) {
        const size_t colon = line.find(':');
        if (colon == std::string::npos) continue;
        const size_t start = line.find_first_not_of(' ');
        names.insert(line.substr(start, colon - start));
    }
    return names;
}

} // namespace

TEST_CASE("image build: a failing RUN names Containerfile:LINE and its exit code, shows its "
          "output, and leaves nothing behind") {
    BuildSandbox box;
    box.import_busybox();
    box.write("hello.txt", "hello\n");
    try {
        box.build("FROM busybox:test\nCOPY hello.txt /\n\n"
                  "RUN echo first line && echo to stderr >&2 && \\\n    exit 3\nENV NEVER=1\n");
        FAIL("the build succeeded");
    } catch (const BuildError& error) {
        const std::string message = error.what();
        INFO(message);
        CHECK(message.find((box.context / "Containerfile").string() + ":4: ") == 0);
        CHECK(message.find("RUN echo first line") != std::string::npos);
        CHECK(message.find("exited with code 3") != std::string::npos);
        CHECK(message.find("first line") != std::string::npos);
        CHECK(message.find("to stderr") != std::string::npos);
        CHECK(error.line() == 4);
        CHECK(error.command_exit_code() == 3);
    }
    // The output went to the progress callback as it came.
    CHECK(box.output_text().find("to stderr\n") != std::string::npos);
    CHECK(leftovers(box).empty());
    CHECK_THROWS_AS(box.store.inspect("app:test"), lcloud::runtime::image::ImageNotFound);

    // A missing COPY source fails at its line, before anything runs.
    try {
        box.build("FROM busybox:test\n\nCOPY missing.txt /\n");
        FAIL("the build succeeded");
    } catch (const BuildError& error) {
        const std::string message = error.what();
        CHECK(message.find("Containerfile:3: COPY missing.txt /") != std::string::npos);
        CHECK(message.find("'missing.txt' is not in the build context") != std::string::npos);
    }
    CHECK(leftovers(box).empty());
}

TEST_CASE("image build: RUN has only loopback by default, and the host's network on request") {
    BuildSandbox box;
    box.import_busybox();
    const std::string containerfile = "FROM busybox:test\nRUN cat /proc/net/dev > /net.txt && "
                                      "cat /sys/class/net/lo/flags > /lo-flags.txt\n";
    box.build(containerfile);
    {
        const MountedImage image(box.store, "app:test");
        CHECK(interfaces(read_file(image.root() / "net.txt")) == std::set<std::string>{"lo"});
        // IFF_UP | IFF_LOOPBACK: loopback works, as in Docker's builds.
        CHECK(read_file(image.root() / "lo-flags.txt") == "0x9\n");
    }
    const std::set<std::string> host = interfaces(read_file("/proc/net/dev"));
    REQUIRE_MESSAGE(host.size() > 1, "the host has no interface but lo");
    lcloud::runtime::image::build::BuildOptions options;
    options.network = true;
    options.tag = "app:network";
    const auto result = box.build("FROM busybox:test\nRUN cat /proc/net/dev > /net.txt\n", options);
    CHECK(result.containers_run == 1);
    {
        const MountedImage image(box.store, "app:network");
        CHECK(interfaces(read_file(image.root() / "net.txt")) == host);
    }
    CHECK(leftovers(box).empty());
}

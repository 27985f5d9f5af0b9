#include "../extract_support.hpp"
#include "build_support.hpp"
#include "runtime/image/build/bootstrap.hpp"

#include <doctest/doctest.h>

#include <chrono>

using namespace lcloud::test::image;
using lcloud::runtime::image::ImageError;
using lcloud::runtime::image::build::bootstrap_image;
using lcloud::runtime::image::build::BootstrapOptions;
using lcloud::runtime::image::build::default_mirror;
namespace fs = std::filesystem;

TEST_CASE("image bootstrap: the default mirror is the first deb URL of apt's sources") {
    lcloud::test::TempDir apt;
    fs::create_directory(apt.path() / "sources.list.d");
    CHECK_THROWS_AS(default_mirror(apt.path()), ImageError);
    write_file(apt.path() / "sources.list.d/a.list.disabled", "deb http://wrong/ bookworm main\n");
    write_file(apt.path() / "sources.list.d/b.sources",
               "Types: deb-src\nURIs: http://sources-only/\n\n"
               "Types: deb\n# a comment\nURIs: http://deb.example/debian\n"
               "  http://second.example/debian\nSuites: bookworm\n");
    CHECK(default_mirror(apt.path()) == "http://deb.example/debian");
    write_file(apt.path() / "sources.list",
               "# deb http://commented/ bookworm main\n"
               "deb-src http://src/ bookworm main\n"
               "deb [arch=amd64 signed-by=/k.gpg] http://first.example/debian bookworm main\n");
    CHECK(default_mirror(apt.path()) == "http://first.example/debian");
}

TEST_CASE("image bootstrap: a failing debootstrap shows its output and leaves nothing") {
    BuildSandbox box;
    BootstrapOptions options;
    options.tag = "debian:broken";
    options.mirror = "http://deb.debian.org/no-such-debian";
    try {
        bootstrap_image(box.store, options, nullptr);
        FAIL("debootstrap from a mirror that does not exist succeeded");
    } catch (const ImageError& error) {
        const std::string message = error.what();
        INFO(message);
        CHECK(message.find("debootstrap of bookworm from http://deb.debian.org/no-such-debian") ==
              0);
        CHECK(message.find("failed with exit code") != std::string::npos);
        CHECK(message.find("Release") != std::string::npos); // debootstrap's own words
    }
    CHECK(leftovers(box).empty());
}

TEST_CASE("image bootstrap: debootstrap minbase makes a Debian image whose container runs") {
    BuildSandbox box;
    BootstrapOptions options;
    options.tag = "debian:test";
    const auto start = std::chrono::steady_clock::now();
    const auto imported = bootstrap_image(
        box.store, options, [&](const std::string& line) { box.output.push_back(line); });
    const auto seconds =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    MESSAGE("bootstrap of bookworm minbase: " << seconds << " s");
    INFO(box.output_text());
    const auto details = box.store.inspect("debian:test");
    CHECK(details.id == imported.id);
    REQUIRE(details.layers.size() == 1);
    const fs::path layer = details.layers[0].path;
    const std::string version = read_file(layer / "etc/debian_version");
    CHECK(version.rfind("12.", 0) == 0);
    CHECK(fs::is_regular_file(layer / "usr/bin/apt-get"));
    CHECK(listing(layer / "var/lib/apt/lists").find("Packages") == std::string::npos);
    CHECK(details.config.cmd == std::vector<std::string>{"/bin/bash"});
    CHECK(contains(details.config.env,
                   "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"));
    CHECK(leftovers(box).empty());

    box.build("FROM debian:test\nRUN cat /etc/debian_version\n");
    CHECK(box.output_text().find("\n" + version) != std::string::npos);
    CHECK(leftovers(box).empty());
}

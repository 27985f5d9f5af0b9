// The agent images `up` makes when this lcloud's agent is not the box's: named by the agent's
// digest, made atomically, pruned to those in use and the newest few; in a private
// XDG_DATA_HOME.
#include "box/agent_image.hpp"
#include "box/box_store.hpp"
#include "box/errors.hpp"

#include "support/env_guard.hpp"
#include "support/temp_dir.hpp"

#include <algorithm>
#include <chrono>
#include <doctest/doctest.h>
#include <fstream>

using namespace lcloud;
using namespace lcloud::test;
namespace fs = std::filesystem;

namespace {
const std::string some_hex(64, 'a');
} // namespace

TEST_CASE("box: an agent image is named by the agent's digest, and a digest is checked") {
    TempDir data;
    EnvGuard xdg("XDG_DATA_HOME", data.path().string());
    CHECK(box::agents_root() == data.path() / "lcloud" / "agents");
    CHECK(box::agent_image_path("sha256:" + some_hex) ==
          data.path() / "lcloud" / "agents" / (some_hex + ".img"));
    CHECK(box::agent_image_path(some_hex) == box::agent_image_path("sha256:" + some_hex));
    CHECK_THROWS_AS(box::agent_image_path("sha256:../../etc/passwd"), box::BoxError);
    CHECK_THROWS_AS(box::agent_image_path("sha256:" + std::string(64, 'A')), box::BoxError);
    CHECK_THROWS_AS(box::agent_image_path(""), box::BoxError);
}

TEST_CASE("box: an agent is described by its version and the start of its digest") {
    CHECK(box::describe_agent("lcloud-agent 0.1.0 (protocol 1)", "sha256:" + some_hex) ==
          "0.1.0 (protocol 1) sha256:aaaaaaaaaaaa");
    CHECK(box::describe_agent("", "sha256:" + some_hex) == "(version unknown) sha256:aaaaaaaaaaaa");
    CHECK(box::describe_agent("lcloud-agent 0.2.0 (protocol 1)", "") == "0.2.0 (protocol 1)");
}

TEST_CASE("box: an agent's digest is remembered until the program changes") {
    TempDir data;
    EnvGuard xdg("XDG_DATA_HOME", data.path().string());
    const auto program = data.path() / "lcloud-agent";
    std::ofstream(program) << "first build";
    const auto first = box::agent_digest(program);
    CHECK(first == box::file_digest(program));
    CHECK(fs::exists(box::agents_root() / "digests.json"));
    CHECK(box::agent_digest(program) == first);
    // Rewritten in place (same size, even): the inode's times tell.
    std::ofstream(program) << "other build";
    CHECK(box::agent_digest(program) == box::file_digest(program));
    CHECK(box::agent_digest(program) != first);
    // A corrupt cache costs a hash, nothing more.
    std::ofstream(box::agents_root() / "digests.json") << "{not json";
    CHECK(box::agent_digest(program) == box::file_digest(program));
    CHECK_THROWS_AS(box::agent_digest(data.path() / "missing"), box::BoxError);
}

TEST_CASE("box: an agent image is made once per digest, with nothing half-made left, and the "
          "cache keeps what is in use and the newest few") {
    TempDir data;
    EnvGuard xdg("XDG_DATA_HOME", data.path().string());
    const auto root = box::agents_root();
    fs::create_directories(root);
    // What killed runs left: a temporary image and a tree.
    std::ofstream(root / ".tmp-0123.img") << "half an image";
    fs::create_directories(root / ".tmp-tree-AbCdEf" / "usr");
    // Older images, the oldest in use by some VM.
    std::vector<fs::path> old;
    const auto now = fs::file_time_type::clock::now();
    for (int i = 0; i < 4; ++i) {
        old.push_back(root / (std::string(64, static_cast<char>('0' + i)) + ".img"));
        std::ofstream(old.back()) << "old image";
        fs::last_write_time(old.back(), now - std::chrono::hours(10 - i));
    }
    const auto in_use = [&](const fs::path& image) { return image == old[0]; };

    // Any small dynamic program does: /bin/true stands in for lcloud-agent.
    const fs::path program = "/bin/true";
    const auto digest = box::agent_digest(program);
    const auto image = box::ensure_agent_image(program, digest, in_use);
    CHECK(image == box::agent_image_path(digest));
    REQUIRE(fs::is_regular_file(image));
    CHECK(fs::file_size(image) > 1024 * 1024);
    const auto made = fs::last_write_time(image);

    std::vector<std::string> left;
    for (const auto& entry : fs::directory_iterator(root))
        left.push_back(entry.path().filename().string());
    std::sort(left.begin(), left.end());
    // Kept: the new image, the two newest old ones, and the oldest (in use).
    std::vector<std::string> kept{".lock",
                                  "digests.json",
                                  image.filename().string(),
                                  old[0].filename().string(),
                                  old[2].filename().string(),
                                  old[3].filename().string()};
    std::sort(kept.begin(), kept.end());
    CHECK(left == kept);

    // A second use takes the cached image as it is, and marks it used.
    CHECK(box::ensure_agent_image(program, digest, in_use) == image);
    CHECK(fs::last_write_time(image) >= made);
    CHECK(box::prune_agent_images(in_use, 1) == std::vector<fs::path>{old[3], old[2]});
    CHECK(fs::exists(old[0]));
    CHECK(fs::exists(image));
}

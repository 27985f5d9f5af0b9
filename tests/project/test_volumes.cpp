#include "common/strings.hpp"
#include "project/volumes.hpp"
#include "support/invalid_message.hpp"

#include <doctest/doctest.h>

using namespace lcloud;
using namespace lcloud::project;

static VolumeMount parse(std::string_view spec) {
    return parse_volume_spec(spec, "/home/dev/project", "/home/dev");
}

static std::string volume_error(std::string_view spec) {
    return test::invalid_message([&] { parse(spec); });
}

TEST_CASE("volume specs: Compose's short syntax") {
    auto mount = parse("/lcloud/src:/app:ro");
    CHECK(mount.type == VolumeType::bind);
    CHECK(mount.source == "/lcloud/src");
    CHECK(mount.target == "/app");
    CHECK(mount.read_only);

    mount = parse("data:/var/lib/master");
    CHECK(mount.type == VolumeType::volume);
    CHECK(mount.source == "data");
    CHECK_FALSE(mount.read_only);

    mount = parse("tmpfs:/tmp");
    CHECK(mount.type == VolumeType::tmpfs);

    mount = parse("./src/:/app");
    CHECK(mount.type == VolumeType::bind);
    CHECK(mount.source == "/home/dev/project/src");

    mount = parse("~/cache:/cache:rw");
    CHECK(mount.source == "/home/dev/cache");

    mount = parse("/var/cache");
    CHECK(mount.type == VolumeType::volume);
    CHECK(mount.source.empty());
    CHECK(format_volume_mount(parse("data:/d:ro")) == "data:/d:ro");
}

TEST_CASE("volume specs: errors say what is right") {
    CHECK(volume_error("data:app") ==
          "volume target 'app' must be an absolute path in the container, such as /data");
    CHECK(volume_error("data:/app:rx") ==
          "invalid volume mode 'rx' in 'data:/app:rx': expected ro or rw");
    CHECK(volume_error("my data:/app").starts_with("invalid volume name 'my data'"));
    CHECK(volume_error("a:/b:ro:x").starts_with("invalid volume 'a:/b:ro:x': expected"));
    CHECK(volume_error("data:/").starts_with("volume target '/' would hide"));
}

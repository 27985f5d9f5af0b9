#include "runtime/image/errors.hpp"
#include "store_support.hpp"
#include "support/child_guard.hpp"

#include <doctest/doctest.h>

#include <sys/wait.h>
#include <unistd.h>

using namespace lcloud::test::image;
using lcloud::runtime::image::DigestMismatch;
using lcloud::runtime::image::ImageError;
using lcloud::runtime::image::parse_reference;
using lcloud::runtime::image::Store;
using lcloud::runtime::image::UnsafeArchive;
namespace fs = std::filesystem;

namespace {

// What every import of sample_image() must have stored.
void check_sample_stored(const StoreSandbox& box, const TestImage& image, const std::string& ref) {
    const auto details = box.store.inspect(ref);
    CHECK(details.id == image.config_digest);
    CHECK(details.config.env == std::vector<std::string>{"PATH=/usr/bin:/bin", "GREETING=hello"});
    CHECK(details.config.entrypoint == std::vector<std::string>{"/bin/app"});
    CHECK(details.config.cmd == std::vector<std::string>{"--serve", "8080"});
    CHECK(details.config.working_dir == "/srv");
    CHECK(details.config.user == "1000:1000");
    CHECK(details.config.exposed_ports == std::vector<std::string>{"53/udp", "8080/tcp"});
    CHECK(details.config.labels.at("org.example.team") == "infra");
    REQUIRE(details.config.diff_ids.size() == 2);
    CHECK(details.config.diff_ids[0] == image.layers[0].diff_id);
    CHECK(details.config.diff_ids[1] == image.layers[1].diff_id);

    const fs::path base = box.layer_dir(image.layers[0].diff_id);
    const fs::path top = box.layer_dir(image.layers[1].diff_id);
    CHECK(read_file(base / "etc/a") == "base a");
    CHECK((lstat_of(base / "bin/app").st_mode & 07777) == 0755);
    CHECK(S_ISCHR(lstat_of(top / "gone").st_mode));
    CHECK(xattr_of(top / "var/cache", "trusted.overlay.opaque") == "y");
    CHECK(box.store.lower_dirs(ref) == std::vector<fs::path>{top, base});
    CHECK(box.tmp().empty());
}

} // namespace

TEST_CASE("Store imports a docker save archive, legacy layout") {
    StoreSandbox box;
    const TestImage image = sample_image();
    const auto imported = box.store.import_archive(
        box.write("app.tar", docker_save_legacy(image, {"app:1", "app:latest"})));
    REQUIRE(imported.size() == 2);
    CHECK(imported[0].reference.str() == "app:1");
    CHECK(imported[1].reference.str() == "app:latest");
    CHECK(imported[0].id == image.config_digest);
    check_sample_stored(box, image, "app:1");
    CHECK(box.store.inspect("app").manifest_digest == imported[0].manifest_digest);
    // The layer blobs are the layer.tar files, by their digest.
    CHECK(read_file(box.root / "blobs/sha256" / hex_of(image.layers[0].digest)) ==
          image.layers[0].tar);
    const auto list = box.store.list();
    REQUIRE(list.size() == 2);
    CHECK(list[0].id == image.config_digest);
    CHECK(list[0].created == "2024-01-02T03:04:05Z");
    CHECK(list[0].size ==
          image.config.size() + image.layers[0].blob.size() + image.layers[1].blob.size());
}

TEST_CASE("Store imports a docker save archive of two images sharing a layer through links") {
    StoreSandbox box;
    const TestLayer base = make_layer(base_entries());
    const TestImage one = make_image({base, make_layer({file("one", "1")})});
    const TestImage two = make_image({base, make_layer({file("two", "2")})});
    // As Docker writes it: the shared layer.tar once, then a symlink and a hardlink to it.
    const std::vector<Entry> entries{
        dir("base"),
        file("base/layer.tar", base.tar),
        dir("one"),
        file("one/layer.tar", one.layers[1].tar),
        dir("two"),
        symlink_to("two/base.tar", "../base/layer.tar"),
        hardlink("two/layer.tar", "one/layer.tar"),
        file("one/layer.tar", two.layers[1].tar),
        file(hex_of(one.config_digest) + ".json", one.config),
        file(hex_of(two.config_digest) + ".json", two.config),
        file("manifest.json", Json::array({{{"Config", hex_of(one.config_digest) + ".json"},
                                            {"RepoTags", {"one:1"}},
                                            {"Layers", {"base/layer.tar", "two/layer.tar"}}},
                                           {{"Config", hex_of(two.config_digest) + ".json"},
                                            {"RepoTags", {"two:1"}},
                                            {"Layers", {"two/base.tar", "one/layer.tar"}}}})
                                  .dump())};
    const auto imported = box.store.import_archive(box.write("both.tar", make_tar(entries)));
    REQUIRE(imported.size() == 2);
    CHECK(box.layer_count() == 3);
    CHECK(box.store.inspect("one:1").layers.at(0).diff_id == base.diff_id);
    CHECK(box.store.inspect("two:1").layers.at(0).diff_id == base.diff_id);
    CHECK(read_file(box.layer_dir(one.layers[1].diff_id) / "one") == "1");
    CHECK(read_file(box.layer_dir(two.layers[1].diff_id) / "two") == "2");
    CHECK(box.tmp().empty());
}

TEST_CASE("Store imports a docker save archive, OCI-style layout of Docker 25+") {
    StoreSandbox box;
    const TestImage image = sample_image();
    const auto imported =
        box.store.import_archive(box.write("app.tar", docker_save_oci(image, {"app:2"})));
    REQUIRE(imported.size() == 1);
    CHECK(imported[0].reference.str() == "app:2");
    check_sample_stored(box, image, "app:2");
}

TEST_CASE("Store imports an OCI image layout, as a directory and as a tar, gzip and zstd layers") {
    const TestImage image = sample_image(Filter::gzip, Filter::zstd);
    SUBCASE("directory, named by io.containerd.image.name") {
        StoreSandbox box;
        write_tree(box.work / "layout",
                   oci_layout_entries(image, {{"io.containerd.image.name", "registry:5000/app:3"},
                                              {"org.opencontainers.image.ref.name", "3"}}));
        const auto imported = box.store.import_archive(box.work / "layout");
        REQUIRE(imported.size() == 1);
        CHECK(imported[0].reference.str() == "registry:5000/app:3");
        // The layout's own manifest is kept, so its digest is too.
        CHECK(imported[0].manifest_digest == image.manifest_digest);
        check_sample_stored(box, image, "registry:5000/app:3");
        const auto details = box.store.inspect("registry:5000/app:3");
        CHECK(details.manifest.layers[0].media_type ==
              "application/vnd.oci.image.layer.v1.tar+gzip");
        CHECK(read_file(box.root / "blobs/sha256" / hex_of(image.layers[1].digest)) ==
              image.layers[1].blob);
    }
    SUBCASE("tar with only a tag as ref.name: needs a NAME:TAG") {
        StoreSandbox box;
        const fs::path archive = box.write(
            "layout.tar",
            make_tar(oci_layout_entries(image, {{"org.opencontainers.image.ref.name", "v1"}})));
        try {
            box.store.import_archive(archive);
            FAIL("an unnamed image was imported");
        } catch (const ImageError& error) {
            CHECK(std::string(error.what()).find("give it a NAME:TAG") != std::string::npos);
        }
        CHECK(box.store.list().empty());
        const auto imported = box.store.import_archive(archive, parse_reference("mine:v1"));
        CHECK(imported.at(0).reference.str() == "mine:v1");
        check_sample_stored(box, image, "mine:v1");
    }
}

TEST_CASE("Store imports a plain rootfs tarball as a one-layer image") {
    StoreSandbox box;
    const TestLayer layer = make_layer(base_entries(), Filter::gzip);
    const auto imported =
        box.store.import_rootfs(box.write("rootfs.tar.gz", layer.blob), parse_reference("base:1"));
    const auto details = box.store.inspect("base:1");
    CHECK(details.id == imported.id);
    CHECK(details.config.diff_ids == std::vector<std::string>{layer.diff_id});
    CHECK(details.config.os == "linux");
    REQUIRE(details.manifest.layers.size() == 1);
    CHECK(details.manifest.layers[0].digest == layer.digest);
    CHECK(details.manifest.layers[0].media_type == "application/vnd.oci.image.layer.v1.tar+gzip");
    CHECK(read_file(box.layer_dir(layer.diff_id) / "etc/b") == "base b");
    CHECK(box.tmp().empty());
}

TEST_CASE("Store refuses blobs and layers that do not match their digests, and keeps nothing") {
    StoreSandbox box;
    const TestImage good = sample_image();
    SUBCASE("a layer blob tampered with in an OCI layout") {
        std::vector<Entry> entries =
            oci_layout_entries(good, {{"io.containerd.image.name", "x:1"}});
        entries.back().data += "tampered";
        try {
            box.store.import_archive(box.write("bad.tar", make_tar(entries)));
            FAIL("imported");
        } catch (const DigestMismatch& error) {
            CHECK(error.expected() == good.layers[1].digest);
            CHECK(std::string(error.what()).find(hex_of(good.layers[1].digest)) !=
                  std::string::npos);
        }
    }
    SUBCASE("a manifest that misstates a layer's size") {
        TestImage bad = good;
        Json manifest = Json::parse(bad.manifest);
        manifest["layers"][0]["size"] = good.layers[0].blob.size() + 1;
        bad.manifest = manifest.dump();
        bad.manifest_digest = lcloud::runtime::image::sha256_digest(bad.manifest);
        try {
            box.store.import_archive(box.write(
                "bad.tar",
                make_tar(oci_layout_entries(bad, {{"io.containerd.image.name", "x:1"}}))));
            FAIL("imported");
        } catch (const ImageError& error) {
            CHECK(std::string(error.what()).find("its descriptor says") != std::string::npos);
        }
        CHECK(box.layer_count() == 0);
    }
    SUBCASE("a config whose diff_id is not its layer's") {
        const TestImage bad =
            make_image(good.layers, {good.layers[0].diff_id, good.layers[0].diff_id});
        try {
            box.store.import_archive(box.write("bad.tar", docker_save_legacy(bad, {"x:1"})));
            FAIL("imported");
        } catch (const DigestMismatch& error) {
            CHECK(error.expected() == good.layers[0].diff_id);
            CHECK(error.actual() == good.layers[1].diff_id);
            CHECK(std::string(error.what()).find("diff_id") != std::string::npos);
        }
        CHECK_FALSE(fs::exists(box.layer_dir(good.layers[1].diff_id)));
    }
    SUBCASE("a legacy config that is not what its file name says") {
        std::string archive = docker_save_legacy(good, {"x:1"});
        TestImage renamed = good;
        renamed.config_digest = lcloud::runtime::image::sha256_digest("something else");
        CHECK_THROWS_AS(
            box.store.import_archive(box.write("bad.tar", docker_save_legacy(renamed, {"x:1"}))),
            DigestMismatch);
    }
    CHECK(box.store.list().empty());
    CHECK(box.tmp().empty());
}

TEST_CASE("Store refuses an image with a malicious layer and leaves nothing of it") {
    StoreSandbox box;
    const fs::path sentinel = box.temp.path() / "sentinel";
    fs::create_directory(sentinel);
    const TestImage image =
        make_image({make_layer(base_entries()),
                    make_layer({symlink_to("a", sentinel.string()), file("a/owned", "x")})});
    CHECK_THROWS_AS(
        box.store.import_archive(box.write("evil.tar", docker_save_legacy(image, {"evil:1"}))),
        UnsafeArchive);
    CHECK(listing(sentinel).empty());
    CHECK(box.store.list().empty());
    CHECK_FALSE(fs::exists(box.layer_dir(image.layers[1].diff_id)));
    CHECK(box.tmp().empty());
}

TEST_CASE("Store refuses what is no image archive, with a pointer to --rootfs") {
    StoreSandbox box;
    try {
        box.store.import_archive(box.write("rootfs.tar", make_tar(base_entries())));
        FAIL("imported");
    } catch (const ImageError& error) {
        CHECK(std::string(error.what()).find("--rootfs") != std::string::npos);
    }
    CHECK_THROWS_AS(box.store.import_archive(box.work / "missing.tar"), ImageError);
    CHECK(box.tmp().empty());
}

TEST_CASE("Store: concurrent imports of the same layers by several processes") {
    StoreSandbox box;
    const TestImage image = sample_image(Filter::gzip, Filter::none);
    const fs::path archive = box.work / "layout.tar";
    write_file(archive, make_tar(oci_layout_entries(image, {{"io.containerd.image.name", "c:1"}})));
    std::vector<std::unique_ptr<lcloud::test::ChildGuard>> children;
    for (int i = 0; i < 4; ++i) {
        const pid_t pid = ::fork();
        REQUIRE(pid >= 0);
        if (pid == 0) {
            int code = 0;
            try {
                Store store(box.root, {{}, true});
                store.import_archive(archive, parse_reference("c:" + std::to_string(i)));
            } catch (const std::exception& error) {
                write_file(box.work / ("error-" + std::to_string(i)), error.what());
                code = 1;
            }
            ::_exit(code);
        }
        children.push_back(std::make_unique<lcloud::test::ChildGuard>(pid));
    }
    for (size_t i = 0; i < children.size(); ++i) {
        // Waited for without reaping, so that the guard reaps it and no pid is reused under it.
        siginfo_t info{};
        REQUIRE(::waitid(P_PID, static_cast<id_t>(children[i]->pid()), &info, WEXITED | WNOWAIT) ==
                0);
        const int status = children[i]->kill_and_reap();
        const std::string error = read_file(box.work / ("error-" + std::to_string(i)));
        INFO(error);
        CHECK(WIFEXITED(status));
        CHECK(WEXITSTATUS(status) == 0);
    }
    CHECK(box.store.list().size() == 4);
    CHECK(box.layer_count() == 2);
    CHECK(read_file(box.layer_dir(image.layers[1].diff_id) / "var/cache/new") == "new");
    CHECK(box.tmp().empty());
    check_sample_stored(box, image, "c:3");
}

TEST_CASE("Store picks this machine's platform from a multi-platform OCI index") {
    const TestImage image = sample_image(Filter::gzip, Filter::gzip);
    const auto layout_with = [&](const std::vector<std::string>& architectures) {
        Json manifests = Json::array();
        for (const std::string& architecture : architectures)
            manifests.push_back(
                {{"mediaType", "application/vnd.oci.image.manifest.v1+json"},
                 {"digest", architecture == "amd64"
                                ? image.manifest_digest
                                : lcloud::runtime::image::sha256_digest(architecture)},
                 {"size", image.manifest.size()},
                 {"platform", {{"os", "linux"}, {"architecture", architecture}}}});
        const std::string nested = Json{
            {"schemaVersion", 2},
            {"mediaType", "application/vnd.oci.image.index.v1+json"},
            {"manifests", manifests}}.dump();
        const std::string nested_digest = lcloud::runtime::image::sha256_digest(nested);
        std::vector<Entry> entries = oci_layout_entries(image, Json::object());
        entries[3].data = Json{{"schemaVersion", 2},
                               {"manifests",
                                {{{"mediaType", "application/vnd.oci.image.index.v1+json"},
                                  {"digest", nested_digest},
                                  {"size", nested.size()},
                                  {"annotations", {{"io.containerd.image.name", "multi:1"}}}}}}}
                              .dump();
        entries.push_back(file("blobs/sha256/" + hex_of(nested_digest), nested));
        return make_tar(entries);
    };
    StoreSandbox box;
    REQUIRE(oci_layout_entries(image, Json::object())[3].path == "index.json");
    const auto imported =
        box.store.import_archive(box.write("multi.tar", layout_with({"arm64", "amd64", "s390x"})));
    REQUIRE(imported.size() == 1);
    CHECK(imported[0].reference.str() == "multi:1");
    CHECK(imported[0].manifest_digest == image.manifest_digest);
    try {
        box.store.import_archive(box.write("arm.tar", layout_with({"arm64"})));
        FAIL("imported");
    } catch (const ImageError& error) {
        CHECK(
            std::string(error.what()).find("has no image for linux/amd64 (it has: linux/arm64)") !=
            std::string::npos);
    }
}

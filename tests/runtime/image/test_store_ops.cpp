#include "runtime/image/errors.hpp"
#include "store_support.hpp"
#include "support/run_command.hpp"

#include <doctest/doctest.h>

using namespace lcloud::test::image;
using lcloud::runtime::image::ImageError;
using lcloud::runtime::image::ImageInUse;
using lcloud::runtime::image::ImageNotFound;
using lcloud::runtime::image::parse_reference;
using lcloud::runtime::image::Store;
using lcloud::test::run_command;
namespace fs = std::filesystem;

namespace {

const auto nobody_uses = [](std::string_view) { return false; };

} // namespace

TEST_CASE("Store: tag, list, inspect by name or id, and references") {
    StoreSandbox box;
    const TestImage image = sample_image();
    box.store.import_archive(box.write("app.tar", docker_save_legacy(image, {"app:1"})));
    box.store.tag("app:1", parse_reference("other/app:stable"));
    const auto list = box.store.list();
    REQUIRE(list.size() == 2);
    CHECK(list[0].reference.str() == "app:1");
    CHECK(list[1].reference.str() == "other/app:stable");
    CHECK(list[1].id == image.config_digest);

    const std::string hex = hex_of(image.config_digest);
    CHECK(box.store.inspect(image.config_digest).id == image.config_digest);
    CHECK(box.store.inspect(hex.substr(0, 12)).id == image.config_digest);
    const auto details = box.store.inspect("other/app:stable");
    CHECK(details.references.size() == 2);
    CHECK(details.layers.size() == 2);
    CHECK_THROWS_AS(box.store.inspect("app:2"), ImageNotFound);
    CHECK_THROWS_AS(box.store.inspect("0000"), ImageNotFound);
    CHECK_THROWS_AS(box.store.tag("missing", parse_reference("x:1")), ImageNotFound);
    CHECK_THROWS_AS(parse_reference("Bad Name"), ImageError);
    CHECK_THROWS_AS(parse_reference("app:-x"), ImageError);
    CHECK(parse_reference("localhost:5000/a/b").str() == "localhost:5000/a/b:latest");
}

TEST_CASE("Store: rm untags, refuses while a container uses the image, then deletes its data") {
    StoreSandbox box;
    const TestImage image = sample_image();
    box.store.import_archive(box.write("app.tar", docker_save_legacy(image, {"app:1", "app:2"})));
    const std::string blobs_before = box.blobs();
    const auto uses_app = [&](std::string_view id) { return id == image.config_digest; };

    // Another tag keeps the image: untagging takes nothing from the container.
    const auto untag = box.store.remove("app:1", uses_app);
    CHECK(untag.untagged.size() == 1);
    CHECK(untag.deleted.empty());
    CHECK(box.blobs() == blobs_before);

    CHECK_THROWS_AS(box.store.remove("app:2", uses_app), ImageInUse);
    CHECK_THROWS_AS(box.store.remove(image.config_digest, uses_app), ImageInUse);
    CHECK(box.store.list().size() == 1);
    CHECK(box.layer_count() == 2);

    const auto removed = box.store.remove("app:2", nobody_uses);
    CHECK(removed.untagged.at(0).str() == "app:2");
    CHECK(removed.deleted.size() == 6); // manifest, config, 2 layer blobs, 2 layers
    CHECK(box.store.list().empty());
    CHECK(box.blobs().empty());
    CHECK(box.layer_count() == 0);
    CHECK(listing(box.root / "diffids").find("sha256/") == std::string::npos);
}

TEST_CASE("Store: prune collects unreferenced layers, blobs and debris, keeps shared ones") {
    StoreSandbox box;
    const TestLayer base = make_layer(base_entries());
    const TestImage one = make_image({base, make_layer({file("one", "1")})});
    const TestImage two = make_image({base, make_layer({file("two", "2")}, Filter::gzip)});
    box.store.import_archive(box.write("one.tar", docker_save_legacy(one, {"one:1"})));
    box.store.import_archive(box.write(
        "two.tar", make_tar(oci_layout_entries(two, {{"io.containerd.image.name", "two:1"}}))));
    CHECK(box.layer_count() == 3);

    CHECK(box.store.prune().deleted.empty());
    // What a killed import leaves: a half layer in tmp/, a stray blob, an orphan layer.
    fs::create_directories(box.root / "tmp/layer.999999.0/etc");
    write_file(box.root / "blobs/sha256" / hex_of(lcloud::runtime::image::sha256_digest("stray")),
               "stray");
    fs::create_directories(box.layer_dir(lcloud::runtime::image::sha256_digest("orphan")) / "x");
    const auto pruned = box.store.prune();
    CHECK(pruned.deleted.size() == 2);
    CHECK(box.tmp().empty());
    CHECK(box.layer_count() == 3);

    box.store.remove("one:1", nobody_uses);
    CHECK(box.layer_count() == 2);
    CHECK(fs::exists(box.layer_dir(base.diff_id) / "etc/a"));
    CHECK(box.store.inspect("two:1").layers.size() == 2);
    CHECK(box.store.lower_dirs("two:1").size() == 2);
}

TEST_CASE("Store: save writes an OCI archive that skopeo and umoci read, and that imports back") {
    const TestImage image = sample_image(Filter::gzip, Filter::none);
    // Its own manifest from an OCI layout; one the store writes for a legacy docker save.
    for (const bool from_docker : {false, true}) {
        const std::string origin = from_docker ? "docker save, legacy" : "OCI layout";
        INFO(origin);
        StoreSandbox box;
        const TestImage source = from_docker ? sample_image() : image;
        box.store.import_archive(box.write(
            "app.tar", from_docker ? docker_save_legacy(source, {"app:7"})
                                   : make_tar(oci_layout_entries(
                                         source, {{"io.containerd.image.name", "app:7"}}))));
        const auto stored = box.store.inspect("app:7");
        const fs::path saved = box.work / "saved.tar";
        box.store.save("app:7", saved);
        CHECK(listing(box.work) == "app.tar\nsaved.tar\n");

        const auto skopeo = run_command("skopeo inspect oci-archive:" + saved.string(), true);
        REQUIRE_MESSAGE(skopeo.exit_code == 0, skopeo.output);
        const auto inspected = Json::parse(skopeo.output);
        CHECK(inspected["Digest"] == stored.manifest_digest);
        if (!from_docker) CHECK(stored.manifest_digest == image.manifest_digest);
        CHECK(inspected["Layers"] ==
              Json::array({source.layers[0].digest, source.layers[1].digest}));
        CHECK(inspected["Env"][1] == "GREETING=hello");

        // umoci reads layout directories: unpack the archive first.
        const fs::path layout = box.work / "layout";
        const fs::path bundle = box.work / "bundle";
        fs::create_directory(layout);
        const auto untar = run_command("tar -xf " + saved.string() + " -C " + layout.string());
        REQUIRE_MESSAGE(untar.exit_code == 0, untar.output);
        const auto umoci =
            run_command("umoci unpack --image " + layout.string() + ":7 " + bundle.string());
        REQUIRE_MESSAGE(umoci.exit_code == 0, umoci.output);
        CHECK(read_file(bundle / "rootfs/etc/b") == "base b");
        CHECK(read_file(bundle / "rootfs/etc/c") == "top c");
        CHECK_FALSE(fs::exists(bundle / "rootfs/etc/a"));
        CHECK_FALSE(fs::exists(bundle / "rootfs/gone"));
        CHECK(listing(bundle / "rootfs/var/cache") == "new\n");
        CHECK(Json::parse(read_file(bundle / "config.json"))["process"]["cwd"] == "/srv");

        StoreSandbox other;
        const auto back = other.store.import_archive(saved);
        CHECK(back.at(0).reference.str() == "app:7");
        CHECK(back.at(0).manifest_digest == stored.manifest_digest);
        CHECK_THROWS_AS(box.store.save("missing:1", box.work / "no.tar"), ImageNotFound);
        CHECK_FALSE(fs::exists(box.work / "no.tar"));
    }
}

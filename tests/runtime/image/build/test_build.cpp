#include "../extract_support.hpp"
#include "build_support.hpp"
#include "runtime/image/extract.hpp"
#include "support/run_command.hpp"

#include <doctest/doctest.h>

#include <chrono>
#include <nlohmann/json.hpp>
#include <sys/sysmacros.h>

using namespace lcloud::test::image;
using lcloud::test::run_command;
using Json = nlohmann::json;
namespace fs = std::filesystem;

namespace {

constexpr const char* full_containerfile = R"(# escape=\
# Every instruction the builder knows, FROM the busybox image.
ARG BASE=busybox:test
FROM ${BASE} AS base
ARG GREETING=hello
ENV APP_HOME=/srv/app \
    MESSAGE="with space"
ENV LEGACY legacy value
LABEL org.example.name="demo" org.example.version=1
WORKDIR $APP_HOME
COPY hello.txt ./
COPY dir/ /data/
RUN echo "$GREETING from run" > run.txt && rm /etc/group && rm -rf /data && \
    mkdir /data && echo new > /data/new && ln /data/new /data/hard && ln -s new /data/link
USER nobody
EXPOSE 8080 53/udp
HEALTHCHECK --interval=30s --timeout=5s --start-period=1m --retries=3 \
    CMD wget -q -O- http://localhost:8080/ || exit 1
ENTRYPOINT ["/bin/sh", "-c"]
CMD ["echo hi"]
)";

void write_full_context(BuildSandbox& box) {
    box.write("hello.txt", "hello from the context\n");
    box.write("dir/a.txt", "a\n");
    box.write("dir/sub/b.txt", "b\n");
}

lcloud::runtime::image::build::BuildOptions with_greeting() {
    lcloud::runtime::image::build::BuildOptions options;
    options.build_args = {{"GREETING", "hi"}};
    return options;
}

} // namespace

TEST_CASE("image build: a Containerfile's instructions make the image config and its layers") {
    BuildSandbox box;
    box.import_busybox();
    write_full_context(box);
    const auto result = box.build(full_containerfile, with_greeting());
    INFO(box.output_text());
    CHECK(result.steps == 14);
    CHECK(result.cache_hits == 0);
    CHECK(result.containers_run == 1);
    CHECK(result.layers_created == 4); // WORKDIR, COPY, COPY, RUN
    CHECK(box.output_text().find("STEP 9/14: RUN echo") != std::string::npos);

    const auto details = box.store.inspect("app:test");
    CHECK(details.id == result.image_id);
    const auto& config = details.config;
    REQUIRE(details.layers.size() == 5);
    const auto has_env = [&](const std::string& variable) {
        return contains(config.env, variable);
    };
    CHECK(has_env("APP_HOME=/srv/app"));
    CHECK(has_env("MESSAGE=with space"));
    CHECK(has_env("LEGACY=legacy value"));
    CHECK(has_env("PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"));
    for (const auto& variable : config.env)
        CHECK_MESSAGE(variable.rfind("GREETING=", 0) != 0, "an ARG stays out of the image");
    CHECK(config.working_dir == "/srv/app");
    CHECK(config.user == "nobody");
    CHECK(config.exposed_ports == std::vector<std::string>{"53/udp", "8080/tcp"});
    CHECK(config.labels.at("org.example.name") == "demo");
    CHECK(config.labels.at("org.example.version") == "1");
    CHECK(config.entrypoint == std::vector<std::string>{"/bin/sh", "-c"});
    CHECK(config.cmd == std::vector<std::string>{"echo hi"});
    REQUIRE(config.healthcheck);
    CHECK(config.healthcheck->test ==
          std::vector<std::string>{"CMD-SHELL", "wget -q -O- http://localhost:8080/ || exit 1"});
    CHECK(config.healthcheck->interval == 30'000'000'000);
    CHECK(config.healthcheck->timeout == 5'000'000'000);
    CHECK(config.healthcheck->start_period == 60'000'000'000);
    CHECK(config.healthcheck->retries == 3);

    // Docker's rule: one history entry without empty_layer per layer.
    const Json raw = Json::parse(box.raw_config("app:test"));
    size_t with_layer = 0;
    for (const Json& entry : raw["history"])
        if (!entry.value("empty_layer", false)) ++with_layer;
    CHECK(with_layer == 5);
    CHECK(raw["history"].size() == 13);

    {
        const MountedImage image(box.store, "app:test");
        const fs::path root = image.root();
        CHECK(read_file(root / "srv/app/hello.txt") == "hello from the context\n");
        CHECK(read_file(root / "srv/app/run.txt") == "hi from run\n");
        CHECK(read_file(root / "data/new") == "new\n");
        CHECK_FALSE(fs::exists(fs::symlink_status(root / "data/a.txt")));
        CHECK_FALSE(fs::exists(fs::symlink_status(root / "etc/group")));
        CHECK(fs::exists(root / "etc/passwd"));
        const struct stat copied = lstat_or_throw(root / "srv/app/hello.txt");
        CHECK(copied.st_uid == 0);
        CHECK((copied.st_mode & 0777) == 0644);
    }
    // The RUN's layer: overlayfs whiteouts became OCI ones in its tar, and back in the store.
    const auto& run_layer = details.layers.back();
    const auto entries = tar_entries(box.store.files().blob_path(run_layer.blob.digest));
    CHECK(contains(entries, "etc/.wh.group"));
    CHECK(contains(entries, "data/.wh..wh..opq"));
    CHECK(contains(entries, "srv/app/run.txt"));
    CHECK(contains(entries, "data/hard"));
    CHECK(lstat_or_throw(run_layer.path / "data/new").st_nlink == 2); // a hardlink stays one
    CHECK(fs::read_symlink(run_layer.path / "data/link") == "new");
    const struct stat whiteout = lstat_or_throw(run_layer.path / "etc/group");
    CHECK(S_ISCHR(whiteout.st_mode));
    CHECK(whiteout.st_rdev == makedev(0, 0));
    CHECK(xattr_of(run_layer.path / "data", lcloud::runtime::image::opaque_xattr) == "y");
    CHECK(run_layer.blob.media_type == "application/vnd.oci.image.layer.v1.tar+gzip");
    CHECK(leftovers(box).empty());
}

TEST_CASE("image build: a rebuild with nothing changed takes every step from the cache") {
    BuildSandbox box;
    box.import_busybox();
    write_full_context(box);
    const auto first = box.build(full_containerfile, with_greeting());
    const auto start = std::chrono::steady_clock::now();
    const auto second = box.build(full_containerfile, with_greeting());
    const auto elapsed =
        std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count();
    MESSAGE("cached rebuild of " << second.steps << " steps: " << elapsed << " ms");
    CHECK(second.cache_hits == second.steps - 1); // all but FROM
    CHECK(second.containers_run == 0);
    CHECK(second.layers_created == 0);
    CHECK(second.image_id == first.image_id);
    {
        // The same with a store that fsyncs what it writes, as lcloud's own store does.
        lcloud::runtime::image::Store durable(box.store_root);
        auto options = with_greeting();
        options.context = box.context;
        options.tag = "app:test";
        const auto durable_start = std::chrono::steady_clock::now();
        const auto again = lcloud::runtime::image::build::build_image(durable, options, nullptr);
        MESSAGE("cached rebuild with a durable store: "
                << std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() -
                                                             durable_start)
                       .count()
                << " ms");
        CHECK(again.image_id == first.image_id);
    }
    INFO(box.output_text());
    for (const auto& report : second.reports)
        if (report.instruction.rfind("FROM", 0) != 0)
            CHECK_MESSAGE(report.cached, report.instruction);

    // Another build arg changes what RUN sees: from that RUN on nothing is cached.
    auto options = with_greeting();
    options.build_args["GREETING"] = "hey";
    const auto third = box.build(full_containerfile, options);
    CHECK(third.containers_run == 1);
    CHECK(third.image_id != first.image_id);
    // --no-cache runs everything again.
    options.no_cache = true;
    const auto fourth = box.build(full_containerfile, options);
    CHECK(fourth.cache_hits == 0);
    CHECK(fourth.containers_run == 1);
    CHECK(leftovers(box).empty());
}

TEST_CASE("image build: skopeo reads Store::save of a built image") {
    BuildSandbox box;
    box.import_busybox();
    box.write("hello.txt", "hello\n");
    box.build("FROM busybox:test\nLABEL purpose=skopeo\nENV MODE=test\nCOPY hello.txt /\n"
              "RUN echo built > /built.txt\nCMD [\"cat\", \"/built.txt\"]\n");
    const fs::path saved = box.temp.path() / "app.tar";
    box.store.save("app:test", saved);
    const auto skopeo = run_command("skopeo inspect oci-archive:" + saved.string(), true);
    REQUIRE_MESSAGE(skopeo.exit_code == 0, skopeo.output);
    const Json inspected = Json::parse(skopeo.output);
    CHECK(inspected["Layers"].size() == 3);
    CHECK(inspected["Labels"]["purpose"] == "skopeo");
    CHECK(contains(inspected["Env"].get<std::vector<std::string>>(), "MODE=test"));
    const auto config = run_command("skopeo inspect --config oci-archive:" + saved.string(), true);
    REQUIRE_MESSAGE(config.exit_code == 0, config.output);
    CHECK(Json::parse(config.output)["config"]["Cmd"] == Json{"cat", "/built.txt"});
}

TEST_CASE("image build: a stage copies from an earlier stage and from an image (COPY --from)") {
    BuildSandbox box;
    box.import_busybox();
    box.write("hello.txt", "hello\n");
    const auto result = box.build(R"(FROM busybox:test AS builder
COPY --chown=nobody hello.txt /out/hello.txt
RUN echo built > /out/artifact
USER nobody
RUN id -u
FROM scratch
COPY --from=builder /out/ /app/
COPY --from=busybox:test /bin/busybox /bin/
)");
    INFO(box.output_text());
    CHECK(result.containers_run == 2);
    CHECK(box.output_text().find("\n65534\n") != std::string::npos); // RUN as USER nobody
    const auto details = box.store.inspect("app:test");
    CHECK(details.layers.size() == 2);
    {
        const MountedImage image(box.store, "app:test");
        CHECK(read_file(image.root() / "app/artifact") == "built\n");
        // --chown names are the image's; --from keeps the owners the stage gave.
        CHECK(lstat_or_throw(image.root() / "app/hello.txt").st_uid == 65534);
        CHECK(lstat_or_throw(image.root() / "app/artifact").st_uid == 0);
        CHECK(fs::is_regular_file(image.root() / "bin/busybox"));
        CHECK_FALSE(fs::exists(image.root() / "etc"));
    }
    CHECK(leftovers(box).empty());
}

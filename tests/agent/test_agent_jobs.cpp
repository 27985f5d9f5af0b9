// Image builds run beside the event loop: the agent answers other clients while one builds, and
// streams the build's lines to the one that asked.
#include "agent/agent_fixture.hpp"
#include "agent/serving_agent.hpp"

#include <atomic>
#include <csignal>
#include <sys/wait.h>

using namespace lcloud;
using namespace lcloud::test;

TEST_CASE("agent: a build runs beside the loop, streams its lines, and others are served") {
    ServingAgent served;
    auto builder = served.connect();
    auto other = served.connect();
    static BusyboxTarball tarball;
    other.call("image.import", {{"path", tarball.path().string()}, {"rootfs", "busybox:test"}});

    const auto context = served.dir.path() / "context";
    std::filesystem::create_directories(context);
    std::ofstream(context / "Containerfile")
        << "FROM busybox:test\nRUN echo slow step; sleep 3; echo built > /built.txt\n"
           "CMD [\"cat\", \"/built.txt\"]\n";

    std::atomic<bool> finished = false;
    std::vector<std::string> lines;
    nlohmann::json result;
    std::thread build([&] {
        result = builder.call_streaming("image.build",
                                        {{"context", context.string()}, {"tag", "slow:1"}},
                                        [&](const nlohmann::json& message) {
                                            if (message.value("stream", "") == "progress")
                                                lines.push_back(message.value("line", ""));
                                        });
        finished = true;
    });
    // Once the RUN has printed, the build is inside its 3 s sleep.
    std::this_thread::sleep_for(std::chrono::milliseconds(800));
    const auto images = other.call("image.list");
    const bool answered_during_build = !finished;
    build.join();
    CHECK(answered_during_build);
    CHECK(images.is_array());
    CHECK(result.at("reference") == "slow:1");
    CHECK(result.at("containers_run") == 1);
    CHECK(std::find(lines.begin(), lines.end(), "slow step") != lines.end());

    // A failing build answers with an error that names the line, after its output.
    std::ofstream(context / "Containerfile") << "FROM busybox:test\nRUN echo oops; exit 4\n";
    lines.clear();
    try {
        builder.call_streaming(
            "image.build", {{"context", context.string()}, {"tag", "bad:1"}},
            [&](const nlohmann::json& message) { lines.push_back(message.value("line", "")); });
        FAIL("the build should have failed");
    } catch (const agent::AgentError& error) {
        CHECK(error.kind() == "build");
        CHECK(std::string(error.what()).find("Containerfile:2") != std::string::npos);
        CHECK(std::string(error.what()).find("code 4") != std::string::npos);
    }
    CHECK(std::find(lines.begin(), lines.end(), "oops") != lines.end());
    CHECK_THROWS_AS(other.call("image.inspect", {{"name", "bad:1"}}), agent::AgentError);
}

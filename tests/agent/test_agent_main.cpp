#include "agent/serving_agent.hpp"
#include "state/atomic_file.hpp"

#include <doctest/doctest.h>
#include <sys/stat.h>

using namespace lcloud;
using namespace lcloud::test;

namespace {

bool alive(pid_t pid) {
    return ::waitpid(pid, nullptr, WNOHANG) == 0;
}

} // namespace

TEST_CASE("agent: serve --start-after waits for its file before it serves, then logs to --log") {
    TempDir outside;
    const auto go = outside.path() / "agent.go";
    const auto log = outside.path() / "agent.log";
    ServingAgent served({"--start-after", go.string(), "--log", log.string()});

    // Loaded and waiting: no socket, no root, no log, for as long as the file is missing.
    std::this_thread::sleep_for(std::chrono::milliseconds(300));
    CHECK(alive(served.pid));
    CHECK_FALSE(std::filesystem::exists(served.socket()));
    CHECK_FALSE(std::filesystem::exists(served.root()));
    CHECK_FALSE(std::filesystem::exists(log));

    state::write_file_atomic(go, "");
    auto client = served.connect();
    CHECK(client.call("container.list", {}).empty());
    const auto text = state::read_file(log);
    REQUIRE(text);
    CHECK(text->find("serving " + served.root().string()) != std::string::npos);
}

TEST_CASE("agent: serve --start-after fails at once when the file's folder is missing") {
    TempDir outside;
    ServingAgent served({"--start-after", (outside.path() / "missing/agent.go").string()});
    int status = 0;
    REQUIRE(::waitpid(served.pid, &status, 0) == served.pid);
    served.pid = 0;
    CHECK(WIFEXITED(status));
    CHECK(WEXITSTATUS(status) == 1);
}

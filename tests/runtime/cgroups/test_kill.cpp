#include "runtime/cgroups/cgroup.hpp"
#include "runtime/cgroups/cgroup_support.hpp"

#include <doctest/doctest.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <memory>
#include <thread>

namespace fs = std::filesystem;
using namespace lcloud::runtime;
using cgroups::Cgroup;
using cgroups::CgroupGuard;
using lcloud::test::Child;
using lcloud::test::IntPipe;
using lcloud::test::read_trimmed;
using lcloud::test::SubreaperGuard;
using lcloud::test::TestCgroupRoot;
using namespace std::chrono_literals;

namespace {

int sleep_forever() {
    for (;;)
        ::pause();
}

// Every process forks as fast as it can, its children too.
int fork_bomb() {
    for (;;)
        ::fork();
}

std::vector<std::unique_ptr<Child>> sleepers(Cgroup& cgroup, int count) {
    std::vector<std::unique_ptr<Child>> children;
    for (int i = 0; i < count; ++i) {
        children.push_back(std::make_unique<Child>(sleep_forever));
        cgroup.add_process(children.back()->pid());
    }
    return children;
}

// The v1 directories only: no cgroup.kill, so the freezer path runs.
Cgroup v1_part(const Cgroup& cgroup) {
    std::vector<std::string> paths;
    for (const std::string& path : cgroup.paths())
        if (path.find("/unified/") == std::string::npos) paths.push_back(path);
    return Cgroup::open(paths);
}

std::string error_of(const auto& action) {
    try {
        action();
    } catch (const lcloud::Error& error) {
        return error.what();
    }
    return "(no error)";
}

} // namespace

TEST_CASE("cgroups: kill_all leaves no process, and every one is reaped as killed") {
    TestCgroupRoot root;
    CgroupGuard cgroup(Cgroup::create(root.path("kill"), "unused"));
    SUBCASE("with cgroup.kill") {
        auto children = sleepers(cgroup.get(), 3);
        CHECK(cgroup->pids().size() == 3);
        cgroup->kill_all();
        CHECK_FALSE(cgroup->has_processes());
        for (auto& child : children) {
            const int status = child->wait(1s);
            CHECK(WIFSIGNALED(status));
            CHECK(WTERMSIG(status) == SIGKILL);
        }
    }
    SUBCASE("with the v1 freezer") {
        Cgroup v1 = v1_part(cgroup.get());
        auto children = sleepers(v1, 3);
        v1.kill_all();
        CHECK_FALSE(v1.has_processes());
        CHECK(read_trimmed("/sys/fs/cgroup/freezer" + root.path("kill") + "/freezer.state") ==
              "THAWED");
        for (auto& child : children) {
            const int status = child->wait(1s);
            CHECK(WIFSIGNALED(status));
            CHECK(WTERMSIG(status) == SIGKILL);
        }
    }
    SUBCASE("in a sub-cgroup frozen on its own") {
        Cgroup v1 = v1_part(cgroup.get());
        Child child(sleep_forever);
        v1.add_process(child.pid());
        const fs::path inner = "/sys/fs/cgroup/freezer" + root.path("kill/inner");
        fs::create_directory(inner);
        std::ofstream(inner / "cgroup.procs") << child.pid();
        std::ofstream(inner / "freezer.state") << "FROZEN";
        v1.kill_all();
        CHECK_FALSE(v1.has_processes());
        CHECK(WTERMSIG(child.wait(1s)) == SIGKILL);
    }
}

TEST_CASE("cgroups: kill_all beats a fork bomb") {
    SubreaperGuard reaper;
    TestCgroupRoot root;
    CgroupGuard cgroup(Cgroup::create(root.path("bomb"), "unused"));
    oci::Resources resources;
    resources.pids_limit = 64; // bounds the damage should kill_all fail
    cgroup->apply(resources);
    const auto beat = [&](Cgroup target) {
        Child bomb(fork_bomb);
        target.add_process(bomb.pid());
        bomb.start();
        const auto until = std::chrono::steady_clock::now() + 2s;
        while (target.pids().size() < 32 && std::chrono::steady_clock::now() < until)
            std::this_thread::sleep_for(1ms);
        CHECK(target.pids().size() >= 32);
        target.kill_all();
        CHECK_FALSE(target.has_processes());
        CHECK(WTERMSIG(bomb.wait(1s)) == SIGKILL);
        CHECK(reaper.reap_all(100ms) >= 31); // the bomb's descendants, orphaned to this process
    };
    SUBCASE("with cgroup.kill") {
        beat(Cgroup::open(cgroup->paths()));
    }
    SUBCASE("with the v1 freezer") {
        beat(v1_part(cgroup.get()));
    }
}

TEST_CASE("cgroups: another signal is sent once to each process") {
    TestCgroupRoot root;
    CgroupGuard cgroup(Cgroup::create(root.path("term"), "unused"));
    Child plain(sleep_forever);
    IntPipe ready;
    Child stubborn([&] {
        ::signal(SIGTERM, SIG_IGN);
        ready.send(1);
        return sleep_forever();
    });
    cgroup->add_process(plain.pid());
    cgroup->add_process(stubborn.pid());
    stubborn.start();
    REQUIRE(ready.receive() == 1);
    cgroup->kill_all(SIGTERM);
    const int status = plain.wait(1s);
    CHECK(WIFSIGNALED(status));
    CHECK(WTERMSIG(status) == SIGTERM);
    CHECK(cgroup->pids() == std::vector<pid_t>{stubborn.pid()});

    cgroup->remove(); // kills the rest first
    CHECK(WTERMSIG(stubborn.wait(1s)) == SIGKILL);
    for (const std::string& path : cgroup->paths())
        CHECK_FALSE(fs::exists(path));
}

TEST_CASE("cgroups: processes that cannot die in time give an error naming them") {
    TestCgroupRoot root;
    // A parent freezer the cgroup cannot thaw keeps the killed process from dying.
    CgroupGuard cgroup(Cgroup::create(root.path("stuck/c"), "unused"));
    Child child(sleep_forever);
    cgroup->add_process(child.pid());
    const std::string parent_state =
        "/sys/fs/cgroup/freezer" + root.path("stuck") + "/freezer.state";
    std::ofstream(parent_state) << "FROZEN";
    const std::string message = error_of([&] { cgroup->kill_all(SIGKILL, 300); });
    std::ofstream(parent_state) << "THAWED";
    CHECK(message.find("processes " + std::to_string(child.pid()) + " of cgroup ") !=
          std::string::npos);
    CHECK(message.find("are still alive 300 ms after SIGKILL") != std::string::npos);
    CHECK(WTERMSIG(child.wait(1s)) == SIGKILL);
}

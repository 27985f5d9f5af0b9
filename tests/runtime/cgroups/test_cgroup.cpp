#include "runtime/cgroups/apply.hpp"
#include "runtime/cgroups/cgroup.hpp"
#include "runtime/cgroups/cgroup_support.hpp"
#include "support/temp_dir.hpp"

#include <doctest/doctest.h>

#include <algorithm>
#include <filesystem>
#include <fstream>

namespace fs = std::filesystem;
using namespace lcloud::runtime::cgroups;
using lcloud::test::Child;
using lcloud::test::read_trimmed;
using lcloud::test::TestCgroupRoot;

namespace {

const std::vector<std::string> hybrid_mounts = {"blkio",   "cpu",    "cpuacct", "cpuset", "devices",
                                                "freezer", "memory", "pids",    "unified"};

std::vector<std::string> expected_paths(const std::string& cgroup) {
    std::vector<std::string> paths;
    for (const std::string& mount : hybrid_mounts)
        paths.push_back("/sys/fs/cgroup/" + mount + cgroup);
    return paths;
}

std::vector<std::string> sorted(std::vector<std::string> list) {
    std::sort(list.begin(), list.end());
    return list;
}

int sleep_forever() {
    for (;;)
        ::pause();
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

TEST_CASE("cgroups: create makes the cgroup in every hierarchy, remove deletes it from all") {
    TestCgroupRoot root;
    {
        Cgroup cgroup = Cgroup::create(root.path("create/c1"), "unused");
        const std::vector<std::string> paths = cgroup.paths();
        CHECK(sorted(paths) == expected_paths(root.path("create/c1")));
        for (const std::string& path : paths)
            CHECK(fs::is_directory(path));
        CHECK_FALSE(cgroup.uses_v2());
        // Each new cpuset level inherits, or no task could join it.
        const std::string cpus = read_trimmed("/sys/fs/cgroup/cpuset/cpuset.cpus");
        CHECK(read_trimmed("/sys/fs/cgroup/cpuset" + root.path("create") + "/cpuset.cpus") == cpus);
        CHECK(read_trimmed("/sys/fs/cgroup/cpuset" + root.path("create/c1") + "/cpuset.cpus") ==
              cpus);
        CHECK(read_trimmed("/sys/fs/cgroup/cpuset" + root.path("create/c1") + "/cpuset.mems") ==
              read_trimmed("/sys/fs/cgroup/cpuset/cpuset.mems"));
        CHECK_FALSE(cgroup.has_processes());

        cgroup.remove();
        for (const std::string& path : paths)
            CHECK_FALSE(fs::exists(path));
        // Shared parents stay.
        CHECK(fs::is_directory("/sys/fs/cgroup/memory" + root.path("create")));
        cgroup.remove(); // again: nothing left to do
    }
    SUBCASE("sub-cgroups the container made go too") {
        Cgroup cgroup = Cgroup::create(root.path("create/c2"), "unused");
        fs::create_directories("/sys/fs/cgroup/memory" + root.path("create/c2/inner/deeper"));
        fs::create_directory("/sys/fs/cgroup/unified" + root.path("create/c2/inner"));
        cgroup.remove();
        for (const std::string& path : cgroup.paths())
            CHECK_FALSE(fs::exists(path));
    }
}

TEST_CASE("cgroups: the test root leaves nothing behind") {
    {
        TestCgroupRoot root;
        Cgroup::create(root.path("left/behind"), "unused");
        CHECK(root.leftovers());
    }
    TestCgroupRoot again;
    CHECK_FALSE(again.leftovers());
}

TEST_CASE("cgroups: CgroupGuard removes the cgroup unless released") {
    TestCgroupRoot root;
    std::vector<std::string> paths;
    {
        CgroupGuard guard(Cgroup::create(root.path("guarded"), "unused"));
        paths = guard->paths();
        CHECK(fs::is_directory(paths.front()));
    }
    for (const std::string& path : paths)
        CHECK_FALSE(fs::exists(path));
    {
        CgroupGuard guard(Cgroup::create(root.path("released"), "unused"));
        Cgroup kept = guard.release();
        paths = kept.paths();
    }
    for (const std::string& path : paths)
        CHECK(fs::is_directory(path));
}

TEST_CASE("cgroups: open reopens persisted paths, and refuses paths outside cgroup mounts") {
    TestCgroupRoot root;
    CgroupGuard created(Cgroup::create(root.path("open"), "unused"));
    Cgroup reopened = Cgroup::open(created->paths());
    CHECK(reopened.paths() == created->paths());
    CHECK_FALSE(reopened.uses_v2());

    Child sleeper(sleep_forever);
    reopened.join(sleeper.pid());
    CHECK(created->pids() == std::vector<pid_t>{sleeper.pid()});
    CHECK(read_trimmed("/sys/fs/cgroup/pids" + root.path("open") + "/cgroup.procs") ==
          std::to_string(sleeper.pid()));
    CHECK(read_trimmed("/sys/fs/cgroup/unified" + root.path("open") + "/cgroup.procs") ==
          std::to_string(sleeper.pid()));
    reopened.remove();
    CHECK(WIFSIGNALED(sleeper.wait()));
    CHECK_FALSE(fs::exists(created->paths().front()));

    CHECK(error_of([] { Cgroup::open({"/tmp/x"}); }) ==
          "cgroup path \"/tmp/x\" is not a normalized absolute path below a mounted cgroup "
          "hierarchy (see /proc/self/mountinfo)");
    CHECK(error_of([] {
              Cgroup::open({"/sys/fs/cgroup/memory/a/../b"});
          }).find("is not a normalized absolute path") != std::string::npos);
    CHECK(error_of([] {
              Cgroup::open({"/sys/fs/cgroup/memory"});
          }).find("is not a normalized absolute path") != std::string::npos);
    // Gone already (a delete after a reboot): opening and removing still work.
    Cgroup gone = Cgroup::open({"/sys/fs/cgroup/memory" + root.path("never-made")});
    CHECK(gone.pids().empty());
    gone.remove();
}

TEST_CASE("cgroups: an existing cgroup is reused when empty and refused when it has processes") {
    TestCgroupRoot root;
    CgroupGuard first(Cgroup::create(root.path("shared"), "unused"));
    CHECK(Cgroup::create(root.path("shared"), "unused").paths() == first->paths());
    Child sleeper(sleep_forever);
    first->add_process(sleeper.pid());
    const std::string message = error_of([&] { Cgroup::create(root.path("shared"), "unused"); });
    CHECK(message.find("exists and has processes (" + std::to_string(sleeper.pid()) +
                       "): another container uses this cgroupsPath") != std::string::npos);
    CHECK(fs::is_directory(first->paths().front())); // the failed create removed nothing of it
}

TEST_CASE("cgroups: a failed create removes the directories it made") {
    TestCgroupRoot root;
    std::vector<Hierarchy> hierarchies = runtime_hierarchies(Layout::hybrid, mounted_hierarchies());
    Hierarchy missing;
    missing.mountpoint = "/nonexistent-cgroup-mount";
    missing.controllers = {"pids"};
    hierarchies.push_back(missing);
    const std::string message = error_of(
        [&] { Cgroup::create_in(hierarchies, Layout::hybrid, root.path("half/made"), "x"); });
    CHECK(message.find("create cgroup directory /nonexistent-cgroup-mount/" + root.name() +
                       ": No such file or directory") != std::string::npos);
    for (const std::string& mount : hybrid_mounts)
        CHECK_FALSE(fs::exists("/sys/fs/cgroup/" + mount + root.path("half")));
}

TEST_CASE("cgroups: a relative cgroupsPath goes under the runtime's own cgroup in each hierarchy") {
    TestCgroupRoot root;
    CgroupGuard base(Cgroup::create(root.path("base"), "unused"));
    int ends[2];
    REQUIRE(::pipe2(ends, O_CLOEXEC) == 0);
    lcloud::Fd read_end(ends[0]);
    lcloud::Fd write_end(ends[1]);
    Child runtime([&] {
        std::string report;
        int code = 0;
        try {
            for (const std::string& path : Cgroup::create("rel/x", "unused").paths())
                report += path + "\n";
        } catch (const std::exception& error) {
            report = error.what();
            code = 1;
        }
        return ::write(write_end.get(), report.data(), report.size()) < 0 ? 2 : code;
    });
    base->add_process(runtime.pid());
    runtime.start();
    write_end.reset();
    const int status = runtime.wait();
    std::string report;
    char buffer[4096];
    for (ssize_t count; (count = ::read(read_end.get(), buffer, sizeof buffer)) > 0;)
        report.append(buffer, static_cast<size_t>(count));
    CAPTURE(report);
    REQUIRE(WIFEXITED(status));
    REQUIRE(WEXITSTATUS(status) == 0);
    std::vector<std::string> paths;
    for (size_t start = 0, end; (end = report.find('\n', start)) != std::string::npos;
         start = end + 1)
        paths.push_back(report.substr(start, end - start));
    CHECK(sorted(paths) == expected_paths(root.path("base/rel/x")));
    for (const std::string& path : paths)
        CHECK(fs::is_directory(path));
}

TEST_CASE("cgroups: the cgroup v2 paths, in this host's unified hierarchy") {
    TestCgroupRoot root;
    const std::vector<Hierarchy> v2_only = runtime_hierarchies(Layout::v2, mounted_hierarchies());
    REQUIRE(v2_only.size() == 1);
    CgroupGuard cgroup(Cgroup::create_in(v2_only, Layout::v2, root.path("v2/c"), "unused"));
    REQUIRE(cgroup->paths() ==
            std::vector<std::string>{"/sys/fs/cgroup/unified" + root.path("v2/c")});
    CHECK(cgroup->uses_v2());
    // The root offers only hugetlb here, which the runtime does not use: nothing enabled.
    CHECK(read_trimmed("/sys/fs/cgroup/unified" + root.path("v2") + "/cgroup.subtree_control")
              .empty());

    Child first(sleep_forever);
    Child second(sleep_forever);
    cgroup->add_process(first.pid());
    cgroup->join(second.pid());
    std::vector<pid_t> expected{first.pid(), second.pid()};
    std::sort(expected.begin(), expected.end());
    CHECK(cgroup->pids() == expected);
    CHECK(cgroup->has_processes());
    CHECK(cgroup->memory_usage() == 0); // no memory controller in it

    cgroup->kill_all();
    CHECK(cgroup->pids().empty());
    for (Child* child : {&first, &second}) {
        const int status = child->wait();
        CHECK(WIFSIGNALED(status));
        CHECK(WTERMSIG(status) == SIGKILL);
    }
    cgroup->remove();
    CHECK_FALSE(fs::exists(cgroup->paths().front()));
}

TEST_CASE("cgroups: v2 parents enable the wanted controllers they offer, and only those") {
    lcloud::test::TempDir tree;
    const fs::path top = tree.path();
    fs::create_directories(top / "a" / "leaf");
    const auto put = [](const fs::path& file, const char* text) { std::ofstream(file) << text; };
    put(top / "cgroup.controllers", "cpu io memory pids hugetlb");
    put(top / "cgroup.subtree_control", "cpu memory pids");
    put(top / "a" / "cgroup.controllers", "cpu memory");
    put(top / "a" / "cgroup.subtree_control", "");
    detail::enable_controllers(top, top / "a" / "leaf", detail::v2_controllers);
    // One write per controller; in these plain files the last one stays.
    CHECK(read_trimmed(top / "cgroup.subtree_control") == "+io");
    CHECK(read_trimmed(top / "a" / "cgroup.subtree_control") == "+memory");
    CHECK_FALSE(fs::exists(top / "a" / "leaf" / "cgroup.subtree_control"));
}

#include "runtime/cgroups/cgroup.hpp"
#include "runtime/cgroups/cgroup_support.hpp"

#include <doctest/doctest.h>

#include <cerrno>
#include <fcntl.h>
#include <filesystem>
#include <sys/mman.h>
#include <vector>

namespace fs = std::filesystem;
using namespace lcloud::runtime;
using cgroups::Cgroup;
using cgroups::CgroupGuard;
using lcloud::test::Child;
using lcloud::test::IntPipe;
using lcloud::test::read_trimmed;
using lcloud::test::SubreaperGuard;
using lcloud::test::TestCgroupRoot;

namespace {

std::string error_of(const auto& action) {
    try {
        action();
    } catch (const lcloud::Error& error) {
        return error.what();
    }
    return "(no error)";
}

bool contains(const std::string& text, const std::string& part) {
    return text.find(part) != std::string::npos;
}

oci::Resources memory_resources(std::optional<int64_t> limit, std::optional<int64_t> swap) {
    oci::Resources resources;
    resources.memory = oci::MemoryResources{};
    resources.memory->limit = limit;
    resources.memory->swap = swap;
    return resources;
}

struct Files {
    std::string cgroup;
    std::string operator()(const std::string& mount, const std::string& file) const {
        return read_trimmed("/sys/fs/cgroup/" + mount + cgroup + "/" + file);
    }
};

constexpr int64_t mib = 1 << 20;

} // namespace

TEST_CASE("cgroups: a child touching 128 MiB under a 32 MiB limit is killed by the OOM killer") {
    TestCgroupRoot root;
    CgroupGuard cgroup(Cgroup::create(root.path("oom"), "unused"));
    const Files files{root.path("oom")};
    const bool swap_accounting =
        fs::exists("/sys/fs/cgroup/memory" + root.path("oom") + "/memory.memsw.limit_in_bytes");
    cgroup->apply(
        memory_resources(32 * mib, swap_accounting ? std::optional(32 * mib) : std::nullopt));
    REQUIRE(files("memory", "memory.limit_in_bytes") == std::to_string(32 * mib));
    if (swap_accounting)
        REQUIRE(files("memory", "memory.memsw.limit_in_bytes") == std::to_string(32 * mib));

    Child hog([] {
        const size_t size = 128 * mib;
        void* memory =
            ::mmap(nullptr, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        if (memory == MAP_FAILED) return 2;
        for (size_t offset = 0; offset < size; offset += 4096)
            static_cast<volatile char*>(memory)[offset] = 1;
        return 0;
    });
    cgroup->add_process(hog.pid());
    hog.start();
    const int status = hog.wait();
    REQUIRE(WIFSIGNALED(status));
    CHECK(WTERMSIG(status) == SIGKILL);
    CHECK(contains(files("memory", "memory.oom_control"), "oom_kill 1"));
}

TEST_CASE("cgroups: memory limits land in the v1 files, in an order the kernel accepts") {
    TestCgroupRoot root;
    CgroupGuard cgroup(Cgroup::create(root.path("memory"), "unused"));
    const Files files{root.path("memory")};
    oci::Resources resources = memory_resources(64 * mib, 128 * mib);
    resources.memory->reservation = 16 * mib;
    resources.memory->swappiness = 10;
    cgroup->apply(resources);
    CHECK(files("memory", "memory.limit_in_bytes") == std::to_string(64 * mib));
    CHECK(files("memory", "memory.memsw.limit_in_bytes") == std::to_string(128 * mib));
    CHECK(files("memory", "memory.soft_limit_in_bytes") == std::to_string(16 * mib));
    CHECK(files("memory", "memory.swappiness") == "10");

    // Lowering both must lower the memory limit first; raising both, memory + swap first.
    cgroup->apply(memory_resources(32 * mib, 32 * mib));
    CHECK(files("memory", "memory.limit_in_bytes") == std::to_string(32 * mib));
    CHECK(files("memory", "memory.memsw.limit_in_bytes") == std::to_string(32 * mib));
    cgroup->apply(memory_resources(256 * mib, 512 * mib));
    CHECK(files("memory", "memory.limit_in_bytes") == std::to_string(256 * mib));
    CHECK(files("memory", "memory.memsw.limit_in_bytes") == std::to_string(512 * mib));
    const std::string unlimited = read_trimmed("/sys/fs/cgroup/memory/memory.limit_in_bytes");
    cgroup->apply(memory_resources(-1, std::nullopt));
    CHECK(files("memory", "memory.limit_in_bytes") == unlimited);
    CHECK(files("memory", "memory.memsw.limit_in_bytes") == unlimited);

    CHECK(error_of([&] { cgroup->apply(memory_resources(64 * mib, 32 * mib)); }) ==
          "linux.resources.memory.swap 33554432 is below memory.limit 67108864: swap counts "
          "memory + swap, so it must be at least the limit");
    CHECK(contains(error_of([&] { cgroup->apply(memory_resources(-5, std::nullopt)); }),
                   "linux.resources.memory.limit is -5: give -1 (unlimited) or a number of bytes"));
    oci::Resources swappiness;
    swappiness.memory = oci::MemoryResources{};
    swappiness.memory->swappiness = 101;
    CHECK(contains(error_of([&] { cgroup->apply(swappiness); }),
                   "memory.swappiness 101 is out of range: give 0 to 100"));
}

TEST_CASE("cgroups: with pids.max 8 a child's 8th process fails to fork with EAGAIN") {
    SubreaperGuard reaper;
    TestCgroupRoot root;
    CgroupGuard cgroup(Cgroup::create(root.path("pids"), "unused"));
    oci::Resources resources;
    resources.pids_limit = 8;
    cgroup->apply(resources);
    const Files files{root.path("pids")};
    REQUIRE(files("pids", "pids.max") == "8");

    IntPipe result;
    Child forker([&] {
        std::vector<pid_t> children;
        int failure = 0;
        for (int i = 0; i < 32; ++i) {
            const pid_t pid = ::fork();
            if (pid == 0)
                for (;;)
                    ::pause();
            if (pid < 0) {
                failure = errno;
                break;
            }
            children.push_back(pid);
        }
        result.send(static_cast<int>(children.size()));
        result.send(failure);
        for (pid_t pid : children)
            ::kill(pid, SIGKILL);
        for (pid_t pid : children)
            ::waitpid(pid, nullptr, 0);
        return 0;
    });
    cgroup->add_process(forker.pid());
    forker.start();
    const int forked = result.receive();
    const int failure = result.receive();
    CHECK(forked == 7); // with the forker itself, 8
    CHECK(failure == EAGAIN);
    const int status = forker.wait();
    CHECK(WIFEXITED(status));
    CHECK(files("pids", "pids.events") == "max 1");

    resources.pids_limit = -1;
    cgroup->apply(resources);
    CHECK(files("pids", "pids.max") == "max");
    resources.pids_limit = 64;
    cgroup->apply(resources);
    CHECK(files("pids", "pids.max") == "64");
    resources.pids_limit = 0;
    cgroup->apply(resources);
    CHECK(files("pids", "pids.max") == "max");
}

TEST_CASE("cgroups: cpu shares, quota, period and cpuset land in the v1 files") {
    TestCgroupRoot root;
    CgroupGuard cgroup(Cgroup::create(root.path("cpu"), "unused"));
    const Files files{root.path("cpu")};
    oci::Resources resources;
    resources.cpu = oci::CpuResources{};
    resources.cpu->shares = 512;
    resources.cpu->quota = 50000;
    resources.cpu->period = 100000;
    resources.cpu->cpus = "0";
    resources.cpu->mems = "0";
    cgroup->apply(resources);
    CHECK(files("cpu", "cpu.shares") == "512");
    CHECK(files("cpu", "cpu.cfs_quota_us") == "50000");
    CHECK(files("cpu", "cpu.cfs_period_us") == "100000");
    CHECK(files("cpuset", "cpuset.cpus") == "0");
    CHECK(files("cpuset", "cpuset.mems") == "0");

    resources.cpu = oci::CpuResources{};
    resources.cpu->quota = 5000;
    resources.cpu->period = 10000;
    cgroup->apply(resources);
    CHECK(files("cpu", "cpu.cfs_quota_us") == "5000");
    CHECK(files("cpu", "cpu.cfs_period_us") == "10000");
    resources.cpu->quota = -1;
    resources.cpu->period.reset();
    cgroup->apply(resources);
    CHECK(files("cpu", "cpu.cfs_quota_us") == "-1");
    CHECK(files("cpu", "cpu.cfs_period_us") == "10000");

    resources.cpu = oci::CpuResources{};
    resources.cpu->cpus = "0-63";
    const std::string parent_cpus = read_trimmed("/sys/fs/cgroup/cpuset/cpuset.cpus");
    // The kernel says EINVAL or ERANGE, depending on its version.
    const std::string cpuset_error = error_of([&] { cgroup->apply(resources); });
    CHECK(cpuset_error.starts_with("write \"0-63\" to /sys/fs/cgroup/cpuset" + root.path("cpu") +
                                   "/cpuset.cpus: "));
    CHECK(cpuset_error.ends_with("; give a subset of the parent's cpuset.cpus (" + parent_cpus +
                                 ")"));
    resources.cpu = oci::CpuResources{};
    resources.cpu->shares = 1;
    CHECK(contains(error_of([&] { cgroup->apply(resources); }),
                   "cpu.shares 1 is out of range: give 2 to 262144"));
    resources.cpu->shares.reset();
    resources.cpu->quota = 10;
    CHECK(contains(error_of([&] { cgroup->apply(resources); }),
                   "/cpu.cfs_quota_us: Invalid argument; the quota must be -1 (unlimited) or at "
                   "least 1000 µs"));
}

TEST_CASE("cgroups: block I/O weight goes to blkio.weight or blkio.bfq.weight") {
    TestCgroupRoot root;
    CgroupGuard cgroup(Cgroup::create(root.path("blkio"), "unused"));
    const Files files{root.path("blkio")};
    const std::string file =
        fs::exists("/sys/fs/cgroup/blkio" + root.path("blkio") + "/blkio.weight")
            ? "blkio.weight"
            : "blkio.bfq.weight";
    oci::Resources resources;
    resources.block_io_weight = 500;
    cgroup->apply(resources);
    CHECK(contains(files("blkio", file), "500"));
    resources.block_io_weight = 5;
    CHECK(contains(error_of([&] { cgroup->apply(resources); }),
                   "linux.resources.blockIO.weight 5 is out of range: give 10 to 1000"));
}

TEST_CASE("cgroups: v1 device rules land in devices.list and decide what a child may open") {
    TestCgroupRoot root;
    CgroupGuard cgroup(Cgroup::create(root.path("devices"), "unused"));
    const Files files{root.path("devices")};
    oci::Resources resources;
    resources.devices = {
        {false, "a", std::nullopt, std::nullopt, "rwm"},
        {true, "c", 1, 3, "rwm"}, // /dev/null
        {true, "c", std::nullopt, std::nullopt, "m"},
        {true, "b", 8, std::nullopt, "r"},
        {false, "c", 1, 3, "w"}, // then no writing to /dev/null
    };
    cgroup->apply(resources);
    CHECK(files("devices", "devices.list") == "c 1:3 rm\nc *:* m\nb 8:* r");

    IntPipe result;
    Child opener([&] {
        const auto outcome = [](const char* path, int flags) {
            const int fd = ::open(path, flags | O_CLOEXEC);
            if (fd >= 0) ::close(fd);
            return fd >= 0 ? 0 : errno;
        };
        result.send(outcome("/dev/null", O_RDONLY));
        result.send(outcome("/dev/null", O_WRONLY));
        result.send(outcome("/dev/zero", O_RDONLY));
        return 0;
    });
    cgroup->add_process(opener.pid());
    opener.start();
    CHECK(result.receive() == 0);
    CHECK(result.receive() == EPERM);
    CHECK(result.receive() == EPERM);
    CHECK(WIFEXITED(opener.wait()));

    resources.devices = {{true, "x", 1, 3, "rwm"}};
    CHECK(contains(error_of([&] { cgroup->apply(resources); }), "device rule type \"x\""));
}

TEST_CASE("cgroups: unified (cgroup v2) values are refused on this hybrid host, naming the key") {
    TestCgroupRoot root;
    CgroupGuard cgroup(Cgroup::create(root.path("unified"), "unused"));
    oci::Resources resources;
    resources.unified["memory.high"] = "1000000";
    CHECK(error_of([&] { cgroup->apply(resources); }) ==
          "linux.resources.unified key \"memory.high\" is for cgroup v2, but this machine's "
          "resource controllers are cgroup v1 ones: leave unified empty, or use the v1 resources "
          "(memory, cpu, pids, blockIO, devices)");
}

TEST_CASE("cgroups: a resource whose controller is missing gets an error naming both") {
    TestCgroupRoot root;
    CgroupGuard full(Cgroup::create(root.path("missing"), "unused"));
    SUBCASE("v1: a cgroup without a pids hierarchy") {
        Cgroup memory_only = Cgroup::open({"/sys/fs/cgroup/memory" + root.path("missing")});
        oci::Resources resources;
        resources.pids_limit = 10;
        CHECK(contains(error_of([&] { memory_only.apply(resources); }),
                       "linux.resources.pids.limit needs the pids controller, and this cgroup "
                       "has no directory in a v1 hierarchy with it"));
    }
    SUBCASE("v2: the unified hierarchy here has no controllers") {
        const std::string path = "/sys/fs/cgroup/unified" + root.path("missing");
        Cgroup unified = Cgroup::open({path});
        REQUIRE(unified.uses_v2());
        oci::Resources resources;
        resources.pids_limit = 10;
        CHECK(error_of([&] { unified.apply(resources); }) ==
              "linux.resources.pids.limit needs the pids controller, which " + path +
                  " does not have (its cgroup.controllers lists none): enable it in the parent's "
                  "cgroup.subtree_control, or leave pids.limit out");
        resources = memory_resources(32 * mib, std::nullopt);
        CHECK(contains(error_of([&] { unified.apply(resources); }),
                       "linux.resources.memory.limit needs the memory controller"));
        resources = {};
        resources.cpu = oci::CpuResources{};
        resources.cpu->shares = 1024;
        CHECK(contains(error_of([&] { unified.apply(resources); }),
                       "linux.resources.cpu.shares needs the cpu controller"));
        resources = {};
        resources.unified["memory.high"] = "1000000";
        CHECK(contains(error_of([&] { unified.apply(resources); }),
                       "linux.resources.unified key \"memory.high\" needs the memory controller"));
        resources.unified = {{"../cgroup.procs", "1"}};
        CHECK(contains(error_of([&] { unified.apply(resources); }),
                       "key \"../cgroup.procs\" is not a cgroup file name"));
        resources.unified = {{"cgroup.nonexistent", "1"}};
        CHECK(contains(error_of([&] { unified.apply(resources); }), "has no such file"));

        // What the core of cgroup v2 offers without controllers is written verbatim.
        resources.unified = {{"cgroup.max.descendants", "3"}, {"cgroup.max.depth", "2"}};
        unified.apply(resources);
        CHECK(read_trimmed(path + "/cgroup.max.descendants") == "3");
        CHECK(read_trimmed(path + "/cgroup.max.depth") == "2");
        // Device rules need eBPF on v2, which is not done here: no error, no effect.
        resources = {};
        resources.devices = {{false, "a", std::nullopt, std::nullopt, "rwm"}};
        unified.apply(resources);
    }
}

// The device filter in the real kernel: probes run by a process inside a cgroup2 cgroup.

#include "runtime/cgroups/cgroup_support.hpp"
#include "runtime/cgroups/device_filter.hpp"
#include "runtime/cgroups/device_filter_support.hpp"
#include "runtime/cgroups/files.hpp"
#include "support/temp_dir.hpp"

#include <doctest/doctest.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <fcntl.h>
#include <filesystem>
#include <functional>
#include <linux/magic.h>
#include <memory>
#include <string>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <sys/vfs.h>
#include <thread>
#include <unistd.h>
#include <vector>

namespace fs = std::filesystem;
using namespace lcloud::runtime;
using lcloud::Fd;
using lcloud::test::Child;
using lcloud::test::contains;
using lcloud::test::error_of;
using lcloud::test::IntPipe;
using lcloud::test::rule;
using lcloud::test::Rules;
using lcloud::test::TempDir;
using lcloud::test::TestCgroupRoot;

namespace {

fs::path cgroup2_mount() {
    struct statfs root {};
    if (::statfs("/sys/fs/cgroup", &root) == 0 && root.f_type == CGROUP2_SUPER_MAGIC)
        return "/sys/fs/cgroup";
    return "/sys/fs/cgroup/unified";
}

// A cgroup2 cgroup of this test, removed (its processes killed) at the end, pass or fail.
class TestCgroup {
  public:
    TestCgroup() : path_(cgroup2_mount() / root_.name() / "devices") {
        fs::create_directories(path_);
    }
    const fs::path& path() const { return path_; }

  private:
    TestCgroupRoot root_;
    fs::path path_;
};

// 0 when the operation succeeds, else its errno.
using Probe = std::function<int()>;

Probe open_probe(const char* path, int flags) {
    return [=] {
        const int fd = ::open(path, flags | O_CLOEXEC);
        if (fd < 0) return errno;
        ::close(fd);
        return 0;
    };
}

Probe mknod_probe(const fs::path& dir, mode_t type, unsigned major, unsigned minor) {
    return [=] {
        const fs::path node = dir / ("node-" + std::to_string(::getpid()));
        if (::mknod(node.c_str(), type | 0600, makedev(major, minor)) != 0) return errno;
        ::unlink(node.c_str());
        return 0;
    };
}

struct Expectation {
    std::string what;
    Probe probe;
    int error; // 0: succeeds
};

// A process in the cgroup that runs a batch of probes each time it is asked.
class Prober {
  public:
    Prober(const fs::path& cgroup, std::vector<std::vector<Expectation>> batches)
        : batches_(std::move(batches)) {
        int ends[2];
        REQUIRE(::pipe2(ends, O_CLOEXEC) == 0);
        ask_read_ = Fd(ends[0]);
        ask_write_ = Fd(ends[1]);
        child_ = std::make_unique<Child>([this] {
            // An exception must not carry the child back into doctest.
            try {
                ask_write_.reset();
                for (uint8_t batch; ::read(ask_read_.get(), &batch, 1) == 1;)
                    for (const Expectation& expectation : batches_.at(batch))
                        results_.send(expectation.probe());
                return 0;
            } catch (...) {
                return 125;
            }
        });
        ask_read_.reset();
        const std::string pid = std::to_string(child_->pid());
        cgroups::write_value(cgroup / "cgroup.procs", pid);
        child_->start();
    }

    // Runs batch `index` in the child and checks each result.
    void check(uint8_t index) {
        REQUIRE(::write(ask_write_.get(), &index, 1) == 1);
        for (const Expectation& expectation : batches_.at(index)) {
            const int error = results_.receive();
            CHECK_MESSAGE(error == expectation.error, expectation.what, ": got \"",
                          error < 0 ? "no answer" : std::strerror(error), "\", want \"",
                          std::strerror(expectation.error), "\"");
        }
    }

  private:
    std::vector<std::vector<Expectation>> batches_;
    Fd ask_read_;
    Fd ask_write_;
    IntPipe results_;
    std::unique_ptr<Child> child_;
};

// Applies `rules` to a fresh cgroup and checks the expectations from a process inside it.
void check_in_cgroup(const Rules& rules, std::vector<Expectation> expectations) {
    TestCgroup cgroup;
    cgroups::apply_device_filter(cgroup.path(), rules);
    Prober prober(cgroup.path(), {std::move(expectations)});
    prober.check(0);
}

bpf_attr zeroed() {
    bpf_attr attr;
    std::memset(&attr, 0, sizeof attr);
    return attr;
}

long bpf(int command, bpf_attr& attr) {
    return ::syscall(SYS_bpf, command, &attr, sizeof attr);
}

Fd open_directory(const fs::path& cgroup) {
    Fd dir(::open(cgroup.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    REQUIRE(dir);
    return dir;
}

std::vector<uint32_t> attached_ids(const fs::path& cgroup) {
    const Fd dir = open_directory(cgroup);
    std::vector<uint32_t> ids(64);
    bpf_attr attr = zeroed();
    attr.query.target_fd = dir.get();
    attr.query.attach_type = BPF_CGROUP_DEVICE;
    attr.query.prog_ids = reinterpret_cast<uintptr_t>(ids.data());
    attr.query.prog_cnt = ids.size();
    REQUIRE(bpf(BPF_PROG_QUERY, attr) == 0);
    ids.resize(attr.query.prog_cnt);
    return ids;
}

bool program_exists(uint32_t id) {
    bpf_attr attr = zeroed();
    attr.prog_id = id;
    return Fd(static_cast<int>(bpf(BPF_PROG_GET_FD_BY_ID, attr))).get() >= 0;
}

constexpr int ok = 0;

} // namespace

TEST_CASE("cgroups device filter: a program the verifier refuses fails with its log") {
    TestCgroup cgroup;
    // Exits without setting R0.
    const std::vector<bpf_insn> bad = {bpf_insn{BPF_JMP | BPF_EXIT, 0, 0, 0, 0}};
    try {
        cgroups::load_device_program(bad, cgroup.path());
        FAIL("the verifier accepted an exit with R0 unset");
    } catch (const lcloud::SystemError& error) {
        const std::string message = error.what();
        CHECK(error.error_number() == EACCES);
        CHECK(error.object() == cgroup.path().string());
        CHECK(contains(message, "BPF_PROG_LOAD"));
        CHECK(contains(message, cgroup.path().string()));
        CHECK(contains(message, "the verifier said: "));
        CHECK(contains(message, "R0 !read_ok"));
    }
    // A v1 directory (or any other) is no place for a device program.
    TempDir plain;
    const Fd allow_all = cgroups::load_device_program(
        cgroups::device_filter_program({rule(true, "a")}), plain.path());
    CHECK(contains(error_of([&] { cgroups::attach_device_program(allow_all, plain.path()); }),
                   "is not in a cgroup2 hierarchy"));
}

TEST_CASE("cgroups device filter: a process opens and creates only the devices allowed") {
    TempDir nodes;
    const Rules rules = {rule(false, "a"), rule(true, "c", 1, 3), rule(true, "c", 1, 5, "r")};
    check_in_cgroup(rules, {
                               {"open /dev/null rw", open_probe("/dev/null", O_RDWR), ok},
                               {"open /dev/zero r", open_probe("/dev/zero", O_RDONLY), ok},
                               {"open /dev/zero w", open_probe("/dev/zero", O_WRONLY), EPERM},
                               {"open /dev/zero rw", open_probe("/dev/zero", O_RDWR), EPERM},
                               {"open /dev/full r", open_probe("/dev/full", O_RDONLY), EPERM},
                               {"mknod c 1:3", mknod_probe(nodes.path(), S_IFCHR, 1, 3), ok},
                               {"mknod c 1:5", mknod_probe(nodes.path(), S_IFCHR, 1, 5), EPERM},
                               {"mknod c 1:7", mknod_probe(nodes.path(), S_IFCHR, 1, 7), EPERM},
                               {"mknod b 1:3", mknod_probe(nodes.path(), S_IFBLK, 1, 3), EPERM},
                           });
    // m is what mknod needs, and all it needs.
    const Rules no_mknod = {rule(false, "a"), rule(true, "c", 1, 3, "rw")};
    check_in_cgroup(no_mknod, {{"open /dev/null rw", open_probe("/dev/null", O_RDWR), ok},
                               {"mknod c 1:3", mknod_probe(nodes.path(), S_IFCHR, 1, 3), EPERM}});
    Rules with_mknod = no_mknod;
    with_mknod.push_back(rule(true, "c", 1, 3, "m"));
    check_in_cgroup(with_mknod, {{"open /dev/null rw", open_probe("/dev/null", O_RDWR), ok},
                                 {"mknod c 1:3", mknod_probe(nodes.path(), S_IFCHR, 1, 3), ok}});
}

TEST_CASE("cgroups device filter: the last matching rule wins in the kernel") {
    check_in_cgroup({rule(true, "a"), rule(false, "c", 1, 7)},
                    {{"open /dev/full", open_probe("/dev/full", O_RDWR), EPERM},
                     {"open /dev/null", open_probe("/dev/null", O_RDWR), ok}});
    check_in_cgroup({rule(false, "c", 1, 7), rule(true, "a")},
                    {{"open /dev/full", open_probe("/dev/full", O_RDWR), ok}});
    // A later deny of w alone denies writing, not reading; a read-write open asks for w too,
    // so it is denied, as on v1.
    check_in_cgroup({rule(false, "a"), rule(true, "c", 1, 7), rule(false, "c", 1, 7, "w")},
                    {{"open /dev/full r", open_probe("/dev/full", O_RDONLY), ok},
                     {"open /dev/full w", open_probe("/dev/full", O_WRONLY), EPERM},
                     {"open /dev/full rw", open_probe("/dev/full", O_RDWR), EPERM}});
    // The same under an allow-all, and a deny of m leaves opening alone.
    TempDir nodes;
    check_in_cgroup({rule(true, "a"), rule(false, "c", 1, 7, "w"), rule(false, "c", 1, 3, "m")},
                    {{"open /dev/full r", open_probe("/dev/full", O_RDONLY), ok},
                     {"open /dev/full rw", open_probe("/dev/full", O_RDWR), EPERM},
                     {"open /dev/null rw", open_probe("/dev/null", O_RDWR), ok},
                     {"mknod c 1:3", mknod_probe(nodes.path(), S_IFCHR, 1, 3), EPERM},
                     {"mknod c 1:5", mknod_probe(nodes.path(), S_IFCHR, 1, 5), ok}});
}

TEST_CASE("cgroups device filter: wildcard numbers and device types") {
    TempDir nodes;
    check_in_cgroup({rule(false, "a"), rule(true, "b")},
                    {{"open /dev/null", open_probe("/dev/null", O_RDONLY), EPERM},
                     {"mknod b 7:0", mknod_probe(nodes.path(), S_IFBLK, 7, 0), ok},
                     {"mknod b 259:1", mknod_probe(nodes.path(), S_IFBLK, 259, 1), ok},
                     {"mknod c 1:3", mknod_probe(nodes.path(), S_IFCHR, 1, 3), EPERM}});
    check_in_cgroup({rule(true, "c", 1, std::nullopt)},
                    {{"open /dev/null", open_probe("/dev/null", O_RDWR), ok},
                     {"open /dev/full", open_probe("/dev/full", O_RDWR), ok},
                     {"mknod c 2:3", mknod_probe(nodes.path(), S_IFCHR, 2, 3), EPERM},
                     {"mknod b 1:3", mknod_probe(nodes.path(), S_IFBLK, 1, 3), EPERM}});
    check_in_cgroup({rule(true, "c", -1, 3)},
                    {{"open /dev/null", open_probe("/dev/null", O_RDWR), ok},
                     {"open /dev/zero", open_probe("/dev/zero", O_RDONLY), EPERM},
                     {"mknod c 9:3", mknod_probe(nodes.path(), S_IFCHR, 9, 3), ok}});
}

TEST_CASE("cgroups device filter: applying again replaces the rules, also for running processes") {
    fs::path removed;
    uint32_t last_id = 0;
    {
        TestCgroup cgroup;
        removed = cgroup.path();
        const auto open_null = open_probe("/dev/null", O_RDWR);
        const auto open_full = open_probe("/dev/full", O_RDWR);
        cgroups::apply_device_filter(cgroup.path(), {rule(false, "a"), rule(true, "c", 1, 3)});
        Prober prober(
            cgroup.path(),
            {{{"null, first rules", open_null, ok}, {"full, first rules", open_full, EPERM}},
             {{"null, second rules", open_null, EPERM}, {"full, second rules", open_full, ok}},
             {{"null, third rules", open_null, ok}, {"full, third rules", open_full, EPERM}}});
        prober.check(0);
        const std::vector<uint32_t> first = attached_ids(cgroup.path());
        REQUIRE(first.size() == 1);

        // One program attached: replaced in place (BPF_F_REPLACE).
        cgroups::apply_device_filter(cgroup.path(), {rule(false, "a"), rule(true, "c", 1, 7)});
        prober.check(1);
        const std::vector<uint32_t> second = attached_ids(cgroup.path());
        REQUIRE(second.size() == 1);
        CHECK(second.front() != first.front());

        // Several attached (another one, allowing all, added by hand): all replaced.
        const Fd extra = cgroups::load_device_program(
            cgroups::device_filter_program({rule(true, "a")}), cgroup.path());
        const Fd dir = open_directory(cgroup.path());
        bpf_attr attr = zeroed();
        attr.target_fd = dir.get();
        attr.attach_bpf_fd = extra.get();
        attr.attach_type = BPF_CGROUP_DEVICE;
        attr.attach_flags = BPF_F_ALLOW_MULTI;
        REQUIRE(bpf(BPF_PROG_ATTACH, attr) == 0);
        REQUIRE(attached_ids(cgroup.path()).size() == 2);
        cgroups::apply_device_filter(cgroup.path(), {rule(false, "a"), rule(true, "c", 1, 3)});
        prober.check(2);
        const std::vector<uint32_t> third = attached_ids(cgroup.path());
        REQUIRE(third.size() == 1);
        last_id = third.front();
        CHECK(!program_exists(second.front()));
        CHECK(program_exists(last_id));
    }
    // Nothing left behind: the cgroup is gone, and with it (released asynchronously) its program.
    CHECK(!fs::exists(removed));
    CHECK(!fs::exists(removed.parent_path()));
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
    while (program_exists(last_id) && std::chrono::steady_clock::now() < deadline)
        std::this_thread::sleep_for(std::chrono::milliseconds(5));
    CHECK(!program_exists(last_id));
}

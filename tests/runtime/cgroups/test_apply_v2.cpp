// detail::apply_v2 against a FAKE cgroup2 directory: plain files in a TempDir, named and filled as
// in a fresh cgroup2 cgroup. This is a unit test with a fake directory: the real v2 path runs in
// the guest VM; this host is hybrid, and its unified hierarchy has no controllers to write to. A
// fake file takes any value, so what the kernel would refuse is not tested here; the values
// apply_v2 writes, the files it leaves alone and what it refuses before writing are.
// Device rules need a real cgroup2 directory (test_device_filter_kernel.cpp), so none are given.

#include "runtime/cgroups/apply.hpp"
#include "runtime/cgroups/files.hpp"
#include "support/temp_dir.hpp"

#include <doctest/doctest.h>

#include <cstdint>
#include <filesystem>
#include <fstream>
#include <map>
#include <optional>
#include <set>
#include <sstream>
#include <string>

namespace fs = std::filesystem;
using namespace lcloud::runtime;
using cgroups::CgroupError;
using lcloud::test::TempDir;

namespace {

constexpr int64_t mib = 1 << 20;

// The files of a fresh cgroup2 cgroup that apply_v2 reads or writes, with their kernel defaults.
const std::map<std::string, std::string> fresh_files = {
    {"cgroup.procs", ""},   {"memory.max", "max"},      {"memory.low", "0"},
    {"memory.high", "max"}, {"memory.swap.max", "max"}, {"memory.oom.group", "0"},
    {"cpu.weight", "100"},  {"cpu.max", "max 100000"},  {"cpuset.cpus", ""},
    {"cpuset.mems", ""},    {"pids.max", "max"},        {"io.weight", "default 100"},
};

// <temp>/container, a fake cgroup2 cgroup, under a fake parent that has the effective cpusets.
class FakeCgroup2 {
  public:
    explicit FakeCgroup2(const std::string& controllers = "cpuset cpu io memory pids")
        : directory_(parent_.path() / "container") {
        fs::create_directory(directory_);
        put(parent_.path() / "cpuset.cpus.effective", "0-3");
        put(parent_.path() / "cpuset.mems.effective", "0");
        put(directory_ / "cgroup.controllers", controllers);
        for (const auto& [name, content] : fresh_files)
            put(directory_ / name, content);
    }

    const fs::path& path() const { return directory_; }

    // The file's exact content: apply_v2 must write the value alone, no newline.
    std::string operator[](const std::string& name) const {
        std::ifstream in(directory_ / name);
        REQUIRE_MESSAGE(in, name, " is missing");
        std::stringstream content;
        content << in.rdbuf();
        return content.str();
    }

    void set(const std::string& name, const std::string& content) {
        put(directory_ / name, content);
    }
    void remove(const std::string& name) { fs::remove(directory_ / name); }

    std::set<std::string> names() const {
        std::set<std::string> result;
        for (const auto& entry : fs::directory_iterator(directory_))
            result.insert(entry.path().filename().string());
        return result;
    }

    // Whether every file still holds its fresh content.
    bool untouched() const {
        for (const auto& [name, content] : fresh_files)
            if (fs::exists(directory_ / name) && (*this)[name] != content) return false;
        return true;
    }

  private:
    static void put(const fs::path& file, const std::string& content) {
        std::ofstream(file) << content;
    }

    TempDir parent_;
    fs::path directory_;
};

// The message of the CgroupError apply_v2 throws for `resources`, or "(no error)".
std::string refusal(const oci::Resources& resources, const FakeCgroup2& cgroup) {
    try {
        cgroups::detail::apply_v2(resources, cgroup.path());
    } catch (const CgroupError& error) {
        return error.what();
    }
    return "(no error)";
}

bool contains(const std::string& text, const std::string& part) {
    return text.find(part) != std::string::npos;
}

oci::Resources memory(std::optional<int64_t> limit, std::optional<int64_t> swap = std::nullopt,
                      std::optional<int64_t> reservation = std::nullopt) {
    oci::Resources resources;
    resources.memory.emplace();
    resources.memory->limit = limit;
    resources.memory->swap = swap;
    resources.memory->reservation = reservation;
    return resources;
}

oci::Resources cpu(std::optional<uint64_t> shares, std::optional<int64_t> quota = std::nullopt,
                   std::optional<uint64_t> period = std::nullopt, std::string cpus = "",
                   std::string mems = "") {
    oci::Resources resources;
    resources.cpu.emplace();
    resources.cpu->shares = shares;
    resources.cpu->quota = quota;
    resources.cpu->period = period;
    resources.cpu->cpus = std::move(cpus);
    resources.cpu->mems = std::move(mems);
    return resources;
}

oci::Resources pids(int64_t limit) {
    oci::Resources resources;
    resources.pids_limit = limit;
    return resources;
}

oci::Resources block_io(uint16_t weight) {
    oci::Resources resources;
    resources.block_io_weight = weight;
    return resources;
}

oci::Resources unified(const std::string& key, const std::string& value) {
    oci::Resources resources;
    resources.unified[key] = value;
    return resources;
}

// The content of `file` after applying `resources` to a fresh fake cgroup whose `file` held
// `before`.
std::string applied(const oci::Resources& resources, const std::string& file,
                    const std::optional<std::string>& before = std::nullopt) {
    FakeCgroup2 cgroup;
    if (before) cgroup.set(file, *before);
    cgroups::detail::apply_v2(resources, cgroup.path());
    return cgroup[file];
}

} // namespace

TEST_CASE("cgroups v2 apply (fake cgroup2 directory): every resource lands in its file") {
    FakeCgroup2 cgroup;
    const std::set<std::string> before = cgroup.names();
    oci::Resources resources = cpu(1024, 50000, 200000, "0-1", "0");
    resources.memory = memory(256 * mib, 768 * mib, 128 * mib).memory;
    // No cgroup2 file for these: ignored, as runc ignores them.
    resources.memory->kernel = 64 * mib;
    resources.memory->swappiness = 10;
    resources.memory->disable_oom_killer = true;
    resources.pids_limit = 64;
    resources.block_io_weight = 500;
    resources.unified = {{"memory.high", "201326592"}, {"memory.oom.group", "1"}};
    cgroups::detail::apply_v2(resources, cgroup.path());

    CHECK(cgroup["memory.max"] == "268435456");
    CHECK(cgroup["memory.low"] == "134217728");
    // OCI swap counts memory + swap; memory.swap.max only swap.
    CHECK(cgroup["memory.swap.max"] == "536870912");
    // 1 + (1024 - 2) * 9999 / 262142
    CHECK(cgroup["cpu.weight"] == "39");
    CHECK(cgroup["cpu.max"] == "50000 200000");
    CHECK(cgroup["cpuset.cpus"] == "0-1");
    CHECK(cgroup["cpuset.mems"] == "0");
    CHECK(cgroup["pids.max"] == "64");
    // 1 + (500 - 10) * 9999 / 990
    CHECK(cgroup["io.weight"] == "4950");
    CHECK(cgroup["memory.high"] == "201326592");
    CHECK(cgroup["memory.oom.group"] == "1");
    CHECK(cgroup["cgroup.controllers"] == "cpuset cpu io memory pids");
    CHECK(cgroup["cgroup.procs"] == "");
    // Writes only: no file is created.
    CHECK(cgroup.names() == before);

    // Nothing given, nothing written.
    FakeCgroup2 empty;
    cgroups::detail::apply_v2({}, empty.path());
    oci::Resources unset = cpu(std::nullopt);
    unset.memory.emplace();
    cgroups::detail::apply_v2(unset, empty.path());
    CHECK(empty.untouched());
}

TEST_CASE("cgroups v2 apply (fake cgroup2 directory): values convert as runc converts them") {
    // cpu.shares [2, 262144] onto cpu.weight [1, 10000], linearly, as runc did before its PR
    // 4785 (and crun before its issue 1721) moved to a curve through 1024 -> 100.
    CHECK(applied(cpu(2), "cpu.weight") == "1");
    CHECK(applied(cpu(512), "cpu.weight") == "20");
    CHECK(applied(cpu(262144), "cpu.weight") == "10000");
    // A blkio weight [10, 1000] onto io.weight [1, 10000].
    CHECK(applied(block_io(10), "io.weight") == "1");
    CHECK(applied(block_io(100), "io.weight") == "910");
    CHECK(applied(block_io(1000), "io.weight") == "10000");

    // cpu.max: "max" for no quota; a part not given keeps the current one.
    CHECK(applied(cpu({}, -1, 250000), "cpu.max") == "max 250000");
    CHECK(applied(cpu({}, 20000), "cpu.max") == "20000");
    CHECK(applied(cpu({}, {}, 50000), "cpu.max", "30000 100000") == "30000 50000");
    CHECK(applied(cpu({}, {}, 50000), "cpu.max", "max 100000") == "max 50000");

    // -1 is unlimited; an unlimited memory with no swap given has unlimited swap, as on v1.
    CHECK(applied(memory(-1), "memory.max") == "max");
    CHECK(applied(memory(-1), "memory.swap.max") == "max");
    CHECK(applied(memory(64 * mib), "memory.swap.max", "12345") == "12345"); // left alone
    CHECK(applied(memory(64 * mib, -1), "memory.swap.max") == "max");
    CHECK(applied(memory(64 * mib, 64 * mib), "memory.swap.max") == "0");
    CHECK(applied(memory({}, {}, -1), "memory.low") == "max");
    CHECK(applied(memory(64 * mib, {}, 32 * mib), "memory.max") == "67108864");

    // pids.limit 0 or below: no limit (the spec leaves it open; youki's tests read it so too).
    CHECK(applied(pids(0), "pids.max", "100") == "max");
    CHECK(applied(pids(-1), "pids.max", "100") == "max");
    CHECK(applied(pids(1), "pids.max") == "1");
}

TEST_CASE("cgroups v2 apply (fake cgroup2 directory): files a kernel may lack") {
    // Without swap accounting there is no memory.swap.max: the swap is skipped, not created.
    FakeCgroup2 no_swap;
    no_swap.remove("memory.swap.max");
    cgroups::detail::apply_v2(memory(64 * mib, 128 * mib), no_swap.path());
    CHECK(no_swap["memory.max"] == "67108864");
    CHECK(!fs::exists(no_swap.path() / "memory.swap.max"));

    // Under the BFQ scheduler the blkio weight goes to io.bfq.weight unconverted.
    FakeCgroup2 bfq;
    bfq.set("io.bfq.weight", "default 100");
    cgroups::detail::apply_v2(block_io(500), bfq.path());
    CHECK(bfq["io.bfq.weight"] == "500");
    CHECK(bfq["io.weight"] == "default 100");

    // A file that cannot be written: the error names the file and value, and says what is right.
    FakeCgroup2 broken;
    broken.remove("cpuset.cpus");
    fs::create_directory(broken.path() / "cpuset.cpus");
    const std::string message = refusal(cpu({}, {}, {}, "0-7"), broken);
    CHECK(contains(message, "write \"0-7\" to " + (broken.path() / "cpuset.cpus").string()));
    CHECK(contains(message, "give a subset of the parent's cpuset.cpus.effective (0-3)"));
}

TEST_CASE("cgroups v2 apply (fake cgroup2 directory): a controller missing is named, nothing "
          "written") {
    const auto missing = [](const std::string& controllers, const oci::Resources& resources,
                            const std::string& needs) {
        FakeCgroup2 cgroup(controllers);
        const std::string message = refusal(resources, cgroup);
        CHECK_MESSAGE(contains(message, needs), message);
        CHECK_MESSAGE(contains(message, "which " + cgroup.path().string() + " does not have"),
                      message);
        CHECK_MESSAGE(contains(message, "enable it in the parent's cgroup.subtree_control"),
                      message);
        CHECK(cgroup.untouched());
        return message;
    };
    const std::string no_pids = missing("cpuset cpu io memory", pids(10),
                                        "linux.resources.pids.limit needs the pids controller");
    CHECK(contains(no_pids, "its cgroup.controllers lists cpuset cpu io memory"));
    CHECK(contains(no_pids, "or leave pids.limit out"));
    CHECK(contains(missing("", memory(64 * mib), "memory.limit needs the memory controller"),
                   "lists none"));
    missing("cpu pids", memory({}, {}, 64 * mib), "memory.reservation needs the memory controller");
    missing("memory pids", cpu(512), "cpu.shares needs the cpu controller");
    missing("memory pids", cpu({}, 10000), "cpu.quota needs the cpu controller");
    missing("cpu memory", cpu({}, {}, {}, "", "0"), "cpu.mems needs the cpuset controller");
    missing("cpu memory pids", block_io(100), "blockIO.weight needs the io controller");
    missing("cpu memory", unified("hugetlb.2MB.max", "0"),
            "unified key \"hugetlb.2MB.max\" needs the hugetlb controller");
}

TEST_CASE("cgroups v2 apply (fake cgroup2 directory): out-of-range values are refused before "
          "writing") {
    const auto refused = [](const oci::Resources& resources, const std::string& because) {
        FakeCgroup2 cgroup;
        const std::string message = refusal(resources, cgroup);
        CHECK_MESSAGE(contains(message, because), message);
        CHECK(cgroup.untouched());
    };
    refused(cpu(1), "linux.resources.cpu.shares 1 is out of range: give 2 to 262144");
    refused(cpu(262145), "cpu.shares 262145 is out of range");
    refused(block_io(9), "linux.resources.blockIO.weight 9 is out of range: give 10 to 1000");
    refused(block_io(1001), "blockIO.weight 1001 is out of range");
    refused(memory(-2), "linux.resources.memory.limit is -2: give -1 (unlimited) or a number of "
                        "bytes");
    refused(memory(64 * mib, -3), "linux.resources.memory.swap is -3");
    refused(memory({}, {}, -4), "linux.resources.memory.reservation is -4");
    refused(memory(64 * mib, 32 * mib), "memory swap 33554432 is below the memory limit 67108864");
    refused(memory({}, 32 * mib), "memory swap 33554432 is set without a memory limit");
    refused(memory(-1, 32 * mib), "is set without a memory limit");

    for (const std::string key : {"", ".hidden", "../memory.max", "memory/max"})
        refused(unified(key, "1"),
                "unified key \"" + key + "\" is not a cgroup file name such as \"memory.high\"");
    FakeCgroup2 cgroup;
    for (const std::string key : {"memory.nonexistent", "cgroup.nonexistent"}) {
        const std::string message = refusal(unified(key, "1"), cgroup);
        CHECK_MESSAGE(contains(message, "unified key \"" + key + "\": " + cgroup.path().string() +
                                            " has no such file"),
                      message);
    }
}

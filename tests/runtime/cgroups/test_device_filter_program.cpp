// The device filter's program, run by a small interpreter and checked against a plain statement
// of the rules' meaning; the kernel's verifier checks each program loads.

#include "runtime/cgroups/device_filter.hpp"
#include "runtime/cgroups/device_filter_support.hpp"
#include "runtime/cgroups/files.hpp"
#include "support/temp_dir.hpp"

#include <doctest/doctest.h>

#include <cstdint>
#include <optional>
#include <random>
#include <string>
#include <type_traits>
#include <vector>

using namespace lcloud::runtime;
using cgroups::CgroupError;
using lcloud::test::contains;
using lcloud::test::error_of;
using lcloud::test::rule;
using lcloud::test::Rules;
using lcloud::test::TempDir;

namespace {

struct Request {
    uint32_t type; // BPF_DEVCG_DEV_*
    uint32_t access;
    uint32_t major;
    uint32_t minor;
};

// R0 at exit; nullopt for an instruction the generator should not emit or a jump out of bounds.
std::optional<uint64_t> interpret(const std::vector<bpf_insn>& program, const Request& request) {
    const uint32_t ctx[3] = {request.type | request.access << 16, request.major, request.minor};
    uint64_t reg[11] = {};
    for (size_t pc = 0; pc < program.size(); ++pc) {
        const bpf_insn& insn = program[pc];
        uint64_t& dst = reg[insn.dst_reg];
        const auto imm = static_cast<uint32_t>(insn.imm);
        switch (insn.code) {
        case BPF_LDX | BPF_W | BPF_MEM:
            if (insn.src_reg != BPF_REG_1 || insn.off % 4 || insn.off < 0 || insn.off > 8)
                return {};
            dst = ctx[insn.off / 4];
            break;
        case BPF_ALU | BPF_AND | BPF_K:
            dst = static_cast<uint32_t>(dst) & imm;
            break;
        case BPF_ALU | BPF_RSH | BPF_K:
            dst = static_cast<uint32_t>(dst) >> imm;
            break;
        case BPF_ALU64 | BPF_MOV | BPF_K:
            dst = static_cast<uint64_t>(int64_t{insn.imm});
            break;
        case BPF_JMP32 | BPF_JNE | BPF_K:
            if (static_cast<uint32_t>(dst) != imm) pc += insn.off;
            break;
        case BPF_JMP32 | BPF_JSET | BPF_K:
            if (static_cast<uint32_t>(dst) & imm) pc += insn.off;
            break;
        case BPF_JMP | BPF_JA:
            pc += insn.off;
            break;
        case BPF_JMP | BPF_EXIT:
            return reg[BPF_REG_0];
        default:
            return {};
        }
        if (insn.off < 0) return {};
    }
    return {};
}

// The semantics, stated plainly: the last rule that matches decides; none matching denies. An
// allow rule must cover all the access requested, a deny rule any of it.
bool expected(const Rules& rules, const Request& request) {
    for (auto it = rules.rbegin(); it != rules.rend(); ++it) {
        if (it->type != "a") {
            if (request.type != (it->type == "b" ? 1u : 2u)) continue;
            if (it->major && *it->major >= 0 && request.major != *it->major) continue;
            if (it->minor && *it->minor >= 0 && request.minor != *it->minor) continue;
            uint32_t bits = 0;
            for (const char c : it->access)
                bits |= c == 'm' ? 1 : c == 'r' ? 2 : 4;
            if (it->allow && (request.access & ~bits) != 0) continue;
            if (!it->allow && (request.access & bits) == 0) continue;
        }
        return it->allow;
    }
    return false;
}

// Checks the program of `rules` against `expected` for every request over a few numbers.
void check_every_request(const Rules& rules) {
    const std::vector<bpf_insn> program = cgroups::device_filter_program(rules);
    for (const uint32_t type : {1u, 2u})
        for (const uint32_t major : {0u, 1u, 7u, 4000000000u})
            for (const uint32_t minor : {0u, 3u, 5u, 4000000000u})
                for (uint32_t access = 1; access <= 7; ++access) {
                    const Request request{type, access, major, minor};
                    const std::optional<uint64_t> verdict = interpret(program, request);
                    REQUIRE(verdict.has_value());
                    CHECK_MESSAGE(*verdict == (expected(rules, request) ? 1u : 0u), "type ", type,
                                  " ", major, ":", minor, " access ", access, " rules ",
                                  rules.size());
                }
}

constexpr uint32_t access_r = BPF_DEVCG_ACC_READ;
constexpr uint32_t access_w = BPF_DEVCG_ACC_WRITE;
constexpr uint32_t access_m = BPF_DEVCG_ACC_MKNOD;
constexpr uint32_t character = BPF_DEVCG_DEV_CHAR;

} // namespace

TEST_CASE("cgroups device filter: the program lets the last matching rule decide") {
    // Three rule blocks (6 + 5 + 2 instructions) after the 6 of the prologue.
    const Rules container = {rule(false, "a"), rule(true, "c", 1, 3), rule(true, "c", 1, 5, "r")};
    CHECK(cgroups::device_filter_program(container).size() == 19);
    // Nothing before a final "a" rule can matter, nor the default.
    CHECK(cgroups::device_filter_program({rule(true, "c", 1, 3), rule(false, "a")}).size() == 8);
    CHECK(cgroups::device_filter_program({}).size() == 8);

    check_every_request(container);
    check_every_request({});
    check_every_request({rule(true, "a"), rule(false, "c", 1, 7)});
    check_every_request({rule(false, "c", 1, 7), rule(true, "a")});
    check_every_request({rule(true, "b"), rule(true, "c", std::nullopt, 3, "w")});
    check_every_request({rule(true, "c", 4000000000, -1, "mr"), rule(true, "a", 1, 3, "r")});
    check_every_request({rule(true, "c", 1, 5, "rw"), rule(false, "c", 1, 5, "w")});
    check_every_request({rule(true, "a"), rule(false, "c", 1, std::nullopt, "rm")});

    // Random rule sets over small domains, each also accepted by the kernel's verifier.
    std::mt19937 random(20240611);
    const auto pick = [&](auto... options) {
        const std::vector<std::common_type_t<decltype(options)...>> all = {options...};
        return all[random() % all.size()];
    };
    TempDir unused;
    for (int round = 0; round < 150; ++round) {
        Rules rules;
        for (size_t count = random() % 6; count > 0; --count)
            rules.push_back(rule(random() % 2, pick("a", "b", "c", "c"),
                                 pick(std::optional<int64_t>(), 0, 1, 7, 4000000000),
                                 pick(std::optional<int64_t>(), -1, 3, 5),
                                 pick("r", "w", "m", "rw", "rm", "wm", "rwm", "mwr")));
        check_every_request(rules);
        CHECK_NOTHROW(
            cgroups::load_device_program(cgroups::device_filter_program(rules), unused.path()));
    }
}

TEST_CASE("cgroups device filter: a deny rule refuses any of its access, an allow needs all") {
    // Stated outright, not through `expected`: a model that agreed with a wrong program would
    // hide the hole this closes.
    const Rules rules = {rule(false, "a"), rule(true, "c", 1, 7), rule(false, "c", 1, 7, "w")};
    const std::vector<bpf_insn> program = cgroups::device_filter_program(rules);
    const auto verdict = [&](uint32_t access, uint32_t minor = 7) {
        return interpret(program, {character, access, 1, minor});
    };
    CHECK(verdict(access_r) == 1u);
    CHECK(verdict(access_m) == 1u);
    CHECK(verdict(access_r | access_m) == 1u);
    CHECK(verdict(access_w) == 0u);
    CHECK(verdict(access_r | access_w) == 0u);
    CHECK(verdict(access_r | access_w | access_m) == 0u);
    CHECK(verdict(access_r, 3) == 0u);
    // The deny block is 7 instructions: type, access (a JSET over a JA to the next block),
    // major, minor and the return.
    CHECK(program.size() == 6 + 7 + 5 + 2);
    TempDir unused;
    CHECK_NOTHROW(cgroups::load_device_program(program, unused.path()));

    // An allow rule still needs every access requested to be its own.
    const std::vector<bpf_insn> reads =
        cgroups::device_filter_program({rule(true, "c", 1, 7, "r")});
    CHECK(interpret(reads, {character, access_r, 1, 7}) == 1u);
    CHECK(interpret(reads, {character, access_r | access_w, 1, 7}) == 0u);
}

TEST_CASE("cgroups device filter: invalid rules are refused, naming the rule and the value") {
    const std::string type = error_of([] {
        cgroups::device_filter_program({rule(false, "a"), rule(true, "x", 1, 3)});
    });
    CHECK(contains(type, "linux.resources.devices[1] (allow x 1:3 rwm)"));
    CHECK(contains(type, "type \"x\" is not one of a (all devices), b (block) or c (character)"));

    const std::string access =
        error_of([] { cgroups::device_filter_program({rule(true, "c", 1, 3, "rwz")}); });
    CHECK(contains(access, "devices[0]"));
    CHECK(contains(access, "access \"rwz\" must be a non-empty combination of r (read), w "
                           "(write) and m (mknod)"));
    CHECK(contains(error_of([] { cgroups::device_filter_program({rule(true, "b", 8, 0, "")}); }),
                   "access \"\""));
    CHECK(
        contains(error_of([] { cgroups::device_filter_program({rule(true, "c", 1LL << 32, 3)}); }),
                 "major 4294967296 is out of range"));
    // Refused before any bpf(2) call: the directory is not even looked at.
    CHECK_THROWS_AS(cgroups::apply_device_filter("/nonexistent", {rule(true, "x")}), CgroupError);
}

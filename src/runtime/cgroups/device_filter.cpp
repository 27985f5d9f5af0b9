#include "runtime/cgroups/device_filter.hpp"

#include "common/error.hpp"
#include "runtime/cgroups/files.hpp"

#include <cerrno>
#include <cstdint>
#include <cstring>
#include <fcntl.h>
#include <fmt/format.h>
#include <limits>
#include <linux/magic.h>
#include <string>
#include <sys/syscall.h>
#include <sys/vfs.h>
#include <unistd.h>

namespace lcloud::runtime::cgroups {

namespace fs = std::filesystem;

namespace {

// Registers the prologue fills from struct bpf_cgroup_dev_ctx.
constexpr uint8_t ctx_reg = BPF_REG_1;
constexpr uint8_t type_reg = BPF_REG_2;
constexpr uint8_t access_reg = BPF_REG_3;
constexpr uint8_t major_reg = BPF_REG_4;
constexpr uint8_t minor_reg = BPF_REG_5;

constexpr int32_t all_access = BPF_DEVCG_ACC_READ | BPF_DEVCG_ACC_WRITE | BPF_DEVCG_ACC_MKNOD;

bpf_insn instruction(uint8_t code, uint8_t dst, uint8_t src, int16_t off, int32_t imm) {
    bpf_insn insn{};
    insn.code = code;
    insn.dst_reg = dst;
    insn.src_reg = src;
    insn.off = off;
    insn.imm = imm;
    return insn;
}

bpf_insn load_word(uint8_t dst, int16_t offset) {
    return instruction(BPF_LDX | BPF_W | BPF_MEM, dst, ctx_reg, offset, 0);
}

bpf_insn alu32(uint8_t op, uint8_t dst, int32_t imm) {
    return instruction(BPF_ALU | op | BPF_K, dst, 0, 0, imm);
}

// The ctx fields are u32: comparing in 32 bits keeps a number past INT32_MAX from being
// sign-extended against a zero-extended register.
bpf_insn jump32(uint8_t op, uint8_t dst, int32_t imm) {
    return instruction(BPF_JMP32 | op | BPF_K, dst, 0, 0, imm);
}

void append_return(std::vector<bpf_insn>& program, bool allow) {
    program.push_back(instruction(BPF_ALU64 | BPF_MOV | BPF_K, BPF_REG_0, 0, 0, allow ? 1 : 0));
    program.push_back(instruction(BPF_JMP | BPF_EXIT, 0, 0, 0, 0));
}

std::string number_text(const std::optional<int64_t>& value) {
    return value && *value >= 0 ? std::to_string(*value) : "*";
}

std::string describe(const oci::DeviceRule& rule, size_t index) {
    return fmt::format("linux.resources.devices[{}] ({} {} {}:{} {})", index,
                       rule.allow ? "allow" : "deny", rule.type, number_text(rule.major),
                       number_text(rule.minor), rule.access);
}

int32_t access_bits(const oci::DeviceRule& rule, size_t index) {
    int32_t bits = 0;
    for (const char letter : rule.access)
        bits |= letter == 'r'   ? BPF_DEVCG_ACC_READ
                : letter == 'w' ? BPF_DEVCG_ACC_WRITE
                : letter == 'm' ? BPF_DEVCG_ACC_MKNOD
                                : 0;
    if (rule.access.empty() || rule.access.find_first_not_of("rwm") != std::string::npos)
        throw CgroupError(fmt::format("{}: access \"{}\" must be a non-empty combination of r "
                                      "(read), w (write) and m (mknod)",
                                      describe(rule, index), rule.access));
    return bits;
}

// nullopt for any.
std::optional<int32_t> device_number(const std::optional<int64_t>& value, const char* name,
                                     const oci::DeviceRule& rule, size_t index) {
    if (!value || *value < 0) return std::nullopt;
    if (*value > std::numeric_limits<uint32_t>::max())
        throw CgroupError(fmt::format("{}: {} {} is out of range: give 0 to 4294967295, or leave "
                                      "it out for any",
                                      describe(rule, index), name, *value));
    return static_cast<int32_t>(static_cast<uint32_t>(*value));
}

// Appends the test of one b or c rule: when a check fails, control falls to the next block.
void append_rule(std::vector<bpf_insn>& program, const oci::DeviceRule& rule, size_t index) {
    const int32_t type = rule.type == "b" ? BPF_DEVCG_DEV_BLOCK : BPF_DEVCG_DEV_CHAR;
    const int32_t access = access_bits(rule, index);
    const std::optional<int32_t> major = device_number(rule.major, "major", rule, index);
    const std::optional<int32_t> minor = device_number(rule.minor, "minor", rule, index);

    std::vector<bpf_insn> block;
    std::vector<size_t> to_next; // the jumps past this block
    const auto jump_to_next = [&](const bpf_insn& jump) {
        to_next.push_back(block.size());
        block.push_back(jump);
    };
    jump_to_next(jump32(BPF_JNE, type_reg, type));
    // No access test for rwm, as in runc: the rule then matches every access, also future ones.
    if (access != all_access && rule.allow) {
        // An allow rule must cover every access requested.
        jump_to_next(jump32(BPF_JSET, access_reg, ~access & 0xFFFF));
    } else if (access != all_access) {
        // A deny rule refuses a request for any access of its own, as v1's devices.deny does:
        // denying w must refuse a read-write open too.
        block.push_back(jump32(BPF_JSET, access_reg, access));
        block.back().off = 1;
        jump_to_next(instruction(BPF_JMP | BPF_JA, 0, 0, 0, 0));
    }
    if (major) jump_to_next(jump32(BPF_JNE, major_reg, *major));
    if (minor) jump_to_next(jump32(BPF_JNE, minor_reg, *minor));
    append_return(block, rule.allow);
    // Offsets count from the instruction after the jump.
    for (const size_t at : to_next)
        block[at].off = static_cast<int16_t>(block.size() - at - 1);
    program.insert(program.end(), block.begin(), block.end());
}

void check_type(const oci::DeviceRule& rule, size_t index) {
    if (rule.type != "a" && rule.type != "b" && rule.type != "c")
        throw CgroupError(fmt::format("{}: type \"{}\" is not one of a (all devices), b (block) "
                                      "or c (character)",
                                      describe(rule, index), rule.type));
}

// The kernel refuses an attr whose unused bytes are not zero.
bpf_attr zeroed() {
    bpf_attr attr;
    std::memset(&attr, 0, sizeof attr);
    return attr;
}

long bpf(int command, bpf_attr& attr) {
    return ::syscall(SYS_bpf, command, &attr, sizeof attr);
}

uint64_t address(const void* pointer) {
    return reinterpret_cast<uintptr_t>(pointer);
}

// SystemError whose message goes on after the errno text, for the verifier's log.
class ProgramLoadError : public SystemError {
  public:
    ProgramLoadError(const std::string& operation, const std::string& object, int error_number,
                     const std::string& details)
        : SystemError(operation, object, error_number),
          message_(std::string(SystemError::what()) + details) {}
    const char* what() const noexcept override { return message_.c_str(); }

  private:
    std::string message_;
};

// The verifier's log in one line, its end (where the refusal is) kept when it is long.
std::string one_line(std::string log) {
    while (!log.empty() && (log.back() == '\n' || log.back() == '\0'))
        log.pop_back();
    constexpr size_t limit = 4000;
    if (log.size() > limit) log = "..." + log.substr(log.size() - limit);
    std::string line;
    for (const char c : log)
        line += c == '\n' ? std::string(" | ") : std::string(1, c);
    return line;
}

std::vector<uint32_t> attached_programs(const Fd& directory, const fs::path& path) {
    std::vector<uint32_t> ids(16);
    for (;;) {
        bpf_attr attr = zeroed();
        attr.query.target_fd = static_cast<uint32_t>(directory.get());
        attr.query.attach_type = BPF_CGROUP_DEVICE;
        attr.query.prog_ids = address(ids.data());
        attr.query.prog_cnt = static_cast<uint32_t>(ids.size());
        if (bpf(BPF_PROG_QUERY, attr) == 0) {
            ids.resize(attr.query.prog_cnt);
            return ids;
        }
        // prog_cnt now holds the number attached; more may come meanwhile.
        if (errno == ENOSPC && attr.query.prog_cnt >= ids.size()) {
            ids.resize(attr.query.prog_cnt * 2);
            continue;
        }
        throw_errno("bpf(BPF_PROG_QUERY, BPF_CGROUP_DEVICE) on", path.string());
    }
}

// An invalid Fd when the program is gone (detached and released meanwhile).
Fd program_by_id(uint32_t id, const fs::path& path) {
    bpf_attr attr = zeroed();
    attr.prog_id = id;
    const long fd = bpf(BPF_PROG_GET_FD_BY_ID, attr);
    if (fd < 0 && errno != ENOENT)
        throw_errno(fmt::format("bpf(BPF_PROG_GET_FD_BY_ID) of device program {} attached to", id),
                    path.string());
    return Fd(static_cast<int>(fd));
}

void detach(const Fd& directory, uint32_t id, const fs::path& path) {
    const Fd program = program_by_id(id, path);
    if (!program) return;
    bpf_attr attr = zeroed();
    attr.target_fd = static_cast<uint32_t>(directory.get());
    attr.attach_bpf_fd = static_cast<uint32_t>(program.get());
    attr.attach_type = BPF_CGROUP_DEVICE;
    if (bpf(BPF_PROG_DETACH, attr) != 0 && errno != ENOENT)
        throw_errno(fmt::format("bpf(BPF_PROG_DETACH) of the old device program {} from", id),
                    path.string());
}

} // namespace

std::vector<bpf_insn> device_filter_program(const std::vector<oci::DeviceRule>& rules) {
    for (size_t index = 0; index < rules.size(); ++index) {
        check_type(rules[index], index);
        access_bits(rules[index], index);
        device_number(rules[index].major, "major", rules[index], index);
        device_number(rules[index].minor, "minor", rules[index], index);
    }
    // access_type: the device type in its low 16 bits, the requested access in its high ones.
    std::vector<bpf_insn> program = {
        load_word(type_reg, offsetof(bpf_cgroup_dev_ctx, access_type)),
        alu32(BPF_AND, type_reg, 0xFFFF),
        load_word(access_reg, offsetof(bpf_cgroup_dev_ctx, access_type)),
        alu32(BPF_RSH, access_reg, 16),
        load_word(major_reg, offsetof(bpf_cgroup_dev_ctx, major)),
        load_word(minor_reg, offsetof(bpf_cgroup_dev_ctx, minor)),
    };
    // Last rule first, each returning when it matches, so that the last match decides.
    for (size_t index = rules.size(); index-- > 0;) {
        if (rules[index].type == "a") {
            // Matches everything: the earlier rules and the default could never run, and the
            // verifier refuses unreachable instructions.
            append_return(program, rules[index].allow);
            return program;
        }
        append_rule(program, rules[index], index);
    }
    append_return(program, false);
    return program;
}

Fd load_device_program(const std::vector<bpf_insn>& program, const fs::path& cgroup2_directory) {
    // The program calls no helper, so its license gates nothing.
    static const char license[] = "GPL";
    bpf_attr attr = zeroed();
    attr.prog_type = BPF_PROG_TYPE_CGROUP_DEVICE;
    attr.insns = address(program.data());
    attr.insn_cnt = static_cast<uint32_t>(program.size());
    attr.license = address(license);
    std::strncpy(attr.prog_name, "lcloud_devices", sizeof attr.prog_name - 1);
    long fd = bpf(BPF_PROG_LOAD, attr);
    if (fd >= 0) return Fd(static_cast<int>(fd));

    // Again with a log: a log that does not fit fails a load that would succeed (ENOSPC).
    const int first_error = errno;
    std::string log(64 * 1024, '\0');
    for (;;) {
        attr.log_level = 1;
        attr.log_buf = address(log.data());
        attr.log_size = static_cast<uint32_t>(log.size());
        fd = bpf(BPF_PROG_LOAD, attr);
        if (fd >= 0) return Fd(static_cast<int>(fd));
        if (errno != ENOSPC || log.size() >= 16 * 1024 * 1024) break;
        log.assign(log.size() * 4, '\0');
    }
    const int error = errno == ENOSPC ? first_error : errno;
    const std::string verifier = one_line(log.substr(0, log.find('\0')));
    throw ProgramLoadError(
        fmt::format("bpf(BPF_PROG_LOAD) of the device filter program ({} instructions) for",
                    program.size()),
        cgroup2_directory.string(), error,
        verifier.empty() ? std::string("; the verifier left no log")
                         : "; the verifier said: " + verifier);
}

void attach_device_program(const Fd& program, const fs::path& cgroup2_directory) {
    const std::string path = cgroup2_directory.string();
    const Fd directory(::open(path.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    if (!directory) throw_errno("open the cgroup directory", path);
    struct statfs filesystem {};
    if (::fstatfs(directory.get(), &filesystem) != 0) throw_errno("statfs", path);
    if (filesystem.f_type != CGROUP2_SUPER_MAGIC)
        throw CgroupError(fmt::format("{} is not in a cgroup2 hierarchy: device programs attach "
                                      "only to cgroup2 directories (on v1, use devices.allow)",
                                      path));

    bool replace_works = true;
    // Another runtime call may change the programs between the query and the attach.
    for (int attempt = 0;; ++attempt) {
        const std::vector<uint32_t> old = attached_programs(directory, cgroup2_directory);
        Fd replaced;
        if (old.size() == 1 && replace_works) {
            replaced = program_by_id(old.front(), cgroup2_directory);
            if (!replaced && attempt < 10) continue;
        }
        bpf_attr attr = zeroed();
        attr.target_fd = static_cast<uint32_t>(directory.get());
        attr.attach_bpf_fd = static_cast<uint32_t>(program.get());
        attr.attach_type = BPF_CGROUP_DEVICE;
        attr.attach_flags = BPF_F_ALLOW_MULTI;
        if (replaced) {
            attr.attach_flags |= BPF_F_REPLACE;
            attr.replace_bpf_fd = static_cast<uint32_t>(replaced.get());
        }
        if (bpf(BPF_PROG_ATTACH, attr) != 0) {
            if (replaced && errno == ENOENT && attempt < 10) continue;
            if (replaced && errno == EINVAL) {
                replace_works = false; // before Linux 5.6
                continue;
            }
            throw_errno(replaced ? "bpf(BPF_PROG_ATTACH, BPF_CGROUP_DEVICE, BPF_F_ALLOW_MULTI | "
                                   "BPF_F_REPLACE) to"
                                 : "bpf(BPF_PROG_ATTACH, BPF_CGROUP_DEVICE, BPF_F_ALLOW_MULTI) to",
                        path);
        }
        if (!replaced)
            for (const uint32_t id : old)
                detach(directory, id, cgroup2_directory);
        return;
    }
}

void apply_device_filter(const fs::path& cgroup2_directory,
                         const std::vector<oci::DeviceRule>& rules) {
    const std::vector<bpf_insn> program = device_filter_program(rules);
    const Fd loaded = load_device_program(program, cgroup2_directory);
    attach_device_program(loaded, cgroup2_directory);
}

} // namespace lcloud::runtime::cgroups

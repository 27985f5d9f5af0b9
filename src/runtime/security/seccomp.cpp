#include "runtime/security/seccomp.hpp"

#include "common/error.hpp"
#include "common/fd.hpp"
#include "common/strings.hpp"
#include "runtime/oci/config_json.hpp"
#include "runtime/security/suggest.hpp"
#include "state/atomic_file.hpp"

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstring>
#include <fmt/format.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <memory>
#include <seccomp.h>
#include <string>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>
#include <vector>

namespace lcloud::runtime::security {

namespace {

struct FilterRelease {
    void operator()(void* filter) const { ::seccomp_release(filter); }
};
using Filter = std::unique_ptr<void, FilterRelease>;

constexpr unsigned max_syscall_args = 6;

// The spec's architectures; libseccomp names them without the prefix, in lower case.
constexpr std::array<std::string_view, 23> spec_architectures{
    "SCMP_ARCH_X86",     "SCMP_ARCH_X86_64",   "SCMP_ARCH_X32",         "SCMP_ARCH_ARM",
    "SCMP_ARCH_AARCH64", "SCMP_ARCH_MIPS",     "SCMP_ARCH_MIPS64",      "SCMP_ARCH_MIPS64N32",
    "SCMP_ARCH_MIPSEL",  "SCMP_ARCH_MIPSEL64", "SCMP_ARCH_MIPSEL64N32", "SCMP_ARCH_PPC",
    "SCMP_ARCH_PPC64",   "SCMP_ARCH_PPC64LE",  "SCMP_ARCH_S390",        "SCMP_ARCH_S390X",
    "SCMP_ARCH_PARISC",  "SCMP_ARCH_PARISC64", "SCMP_ARCH_RISCV64",     "SCMP_ARCH_LOONGARCH64",
    "SCMP_ARCH_M68K",    "SCMP_ARCH_SH",       "SCMP_ARCH_SHEB"};

constexpr std::array<std::string_view, 9> action_names{
    "SCMP_ACT_ALLOW",       "SCMP_ACT_ERRNO",        "SCMP_ACT_KILL",
    "SCMP_ACT_KILL_THREAD", "SCMP_ACT_KILL_PROCESS", "SCMP_ACT_TRAP",
    "SCMP_ACT_TRACE",       "SCMP_ACT_LOG",          "SCMP_ACT_NOTIFY"};

struct Operator {
    std::string_view name;
    scmp_compare value;
};

constexpr std::array<Operator, 7> operators{{
    {"SCMP_CMP_NE", SCMP_CMP_NE},
    {"SCMP_CMP_LT", SCMP_CMP_LT},
    {"SCMP_CMP_LE", SCMP_CMP_LE},
    {"SCMP_CMP_EQ", SCMP_CMP_EQ},
    {"SCMP_CMP_GE", SCMP_CMP_GE},
    {"SCMP_CMP_GT", SCMP_CMP_GT},
    {"SCMP_CMP_MASKED_EQ", SCMP_CMP_MASKED_EQ},
}};

template <size_t N>
std::string unknown_hint(std::string_view word, const std::array<std::string_view, N>& names,
                         std::string_view prefix) {
    if (const auto suggestion =
            closest_name(word, std::vector<std::string_view>(names.begin(), names.end()), prefix))
        return fmt::format("did you mean {}?", *suggestion);
    std::string list;
    for (const auto name : names)
        list += (list.empty() ? "" : ", ") + std::string(name);
    return "use one of " + list;
}

uint32_t parse_action(const std::string& name, const std::optional<uint32_t>& errno_ret,
                      const std::string& where) {
    const auto with_errno = [&] {
        const uint32_t value = errno_ret.value_or(EPERM);
        if (value > 0xffff)
            throw InvalidSetting(fmt::format("{}: errnoRet {} is out of range; use an errno "
                                             "number such as 1 (EPERM) or 38 (ENOSYS)",
                                             where, value));
        return value;
    };
    const auto without_errno = [&](uint32_t action) {
        if (errno_ret)
            throw InvalidSetting(fmt::format("{}: errnoRet {} is set on {}, which returns no "
                                             "errno; only SCMP_ACT_ERRNO and SCMP_ACT_TRACE take "
                                             "errnoRet",
                                             where, *errno_ret, name));
        return action;
    };
    if (name == "SCMP_ACT_ALLOW") return without_errno(SCMP_ACT_ALLOW);
    if (name == "SCMP_ACT_ERRNO") return SCMP_ACT_ERRNO(with_errno());
    if (name == "SCMP_ACT_TRACE") return SCMP_ACT_TRACE(with_errno());
    if (name == "SCMP_ACT_KILL" || name == "SCMP_ACT_KILL_THREAD")
        return without_errno(SCMP_ACT_KILL_THREAD);
    if (name == "SCMP_ACT_KILL_PROCESS") return without_errno(SCMP_ACT_KILL_PROCESS);
    if (name == "SCMP_ACT_TRAP") return without_errno(SCMP_ACT_TRAP);
    if (name == "SCMP_ACT_LOG") return without_errno(SCMP_ACT_LOG);
    if (name == "SCMP_ACT_NOTIFY")
        throw InvalidSetting(fmt::format(
            "{}: SCMP_ACT_NOTIFY is not supported by lcloud-runtime (it needs a seccomp agent "
            "behind listenerPath); use SCMP_ACT_ERRNO, SCMP_ACT_LOG or SCMP_ACT_KILL_PROCESS",
            where));
    throw InvalidSetting(fmt::format("{}: unknown seccomp action \"{}\"; {}", where, name,
                                     unknown_hint(name, action_names, "SCMP_ACT_")));
}

std::vector<scmp_arg_cmp> parse_args(const std::vector<oci::SeccompArg>& args,
                                     const std::string& where) {
    std::vector<scmp_arg_cmp> conditions;
    for (const auto& arg : args) {
        const auto found = std::find_if(operators.begin(), operators.end(),
                                        [&](const Operator& op) { return op.name == arg.op; });
        if (found == operators.end()) {
            std::array<std::string_view, operators.size()> names;
            std::transform(operators.begin(), operators.end(), names.begin(),
                           [](const Operator& op) { return op.name; });
            throw InvalidSetting(fmt::format("{}: unknown seccomp operator \"{}\"; {}", where,
                                             arg.op, unknown_hint(arg.op, names, "SCMP_CMP_")));
        }
        if (arg.index >= max_syscall_args)
            throw InvalidSetting(fmt::format("{}: argument index {} is out of range; a syscall "
                                             "has arguments 0 to {}",
                                             where, arg.index, max_syscall_args - 1));
        // For SCMP_CMP_MASKED_EQ, value is the mask and valueTwo what the masked argument equals.
        conditions.push_back({arg.index, found->value, arg.value, arg.value_two});
    }
    return conditions;
}

bool repeats_an_index(const std::vector<scmp_arg_cmp>& conditions) {
    std::array<int, max_syscall_args> seen{};
    for (const auto& condition : conditions)
        if (++seen[condition.arg] > 1) return true;
    return false;
}

void add_architectures(void* filter, const std::vector<std::string>& names,
                       const SkipReport& report) {
    for (const auto& name : names) {
        if (std::find(spec_architectures.begin(), spec_architectures.end(), name) ==
            spec_architectures.end())
            throw InvalidSetting(fmt::format("unknown seccomp architecture \"{}\"; {}", name,
                                             unknown_hint(name, spec_architectures, "SCMP_ARCH_")));
        const uint32_t token =
            ::seccomp_arch_resolve_name(to_lower(std::string_view(name).substr(10)).c_str());
        if (token == 0) {
            if (report)
                report(fmt::format("seccomp architecture {} skipped: this libseccomp cannot "
                                   "build filters for it",
                                   name));
            continue;
        }
        const int result = ::seccomp_arch_add(filter, token);
        if (result != 0 && result != -EEXIST) {
            errno = -result;
            throw_errno("add to the seccomp filter", "architecture " + name);
        }
    }
}

void set_attribute(void* filter, scmp_filter_attr attribute, uint32_t value,
                   const std::string& what) {
    const int result = ::seccomp_attr_set(filter, attribute, value);
    if (result != 0) {
        errno = -result;
        throw_errno("set on the seccomp filter", what);
    }
}

unsigned int load_flags(const std::vector<std::string>& flags) {
    unsigned int result = 0;
    for (const auto& flag : flags) {
        if (flag == "SECCOMP_FILTER_FLAG_TSYNC") result |= SECCOMP_FILTER_FLAG_TSYNC;
        if (flag == "SECCOMP_FILTER_FLAG_LOG") result |= SECCOMP_FILTER_FLAG_LOG;
        if (flag == "SECCOMP_FILTER_FLAG_SPEC_ALLOW") result |= SECCOMP_FILTER_FLAG_SPEC_ALLOW;
    }
    return result;
}

void apply_flags(void* filter, const std::vector<std::string>& flags, const SkipReport& report) {
    for (const auto& flag : flags) {
        const std::string what = "flag " + flag + " (this kernel or libseccomp may lack it)";
        if (flag == "SECCOMP_FILTER_FLAG_TSYNC")
            set_attribute(filter, SCMP_FLTATR_CTL_TSYNC, 1, what);
        else if (flag == "SECCOMP_FILTER_FLAG_LOG")
            set_attribute(filter, SCMP_FLTATR_CTL_LOG, 1, what);
        else if (flag == "SECCOMP_FILTER_FLAG_SPEC_ALLOW")
            set_attribute(filter, SCMP_FLTATR_CTL_SSB, 1, what);
        else if (flag == "SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV") {
            if (report)
                report("seccomp flag SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV skipped: it only "
                       "affects SCMP_ACT_NOTIFY, which lcloud-runtime does not support");
        } else {
            throw InvalidSetting(
                fmt::format("unknown seccomp flag \"{}\"; use SECCOMP_FILTER_FLAG_TSYNC, "
                            "SECCOMP_FILTER_FLAG_LOG or SECCOMP_FILTER_FLAG_SPEC_ALLOW",
                            flag));
        }
    }
}

void add_rule(void* filter, uint32_t action, const std::string& name,
              const std::vector<scmp_arg_cmp>& conditions, const SkipReport& report) {
    const int syscall = ::seccomp_syscall_resolve_name(name.c_str());
    if (syscall == __NR_SCMP_ERROR) {
        if (report)
            report(fmt::format("seccomp rule for syscall \"{}\" skipped: libseccomp does not "
                               "know it on this architecture",
                               name));
        return;
    }
    const auto add = [&](const scmp_arg_cmp* data, unsigned count) {
        const int result = ::seccomp_rule_add_array(filter, action, syscall, count, data);
        if (result != 0) {
            errno = -result;
            throw_errno("add a seccomp rule for", "syscall " + name);
        }
    };
    // libseccomp cannot AND two comparisons of one argument; like runc, each becomes its own rule.
    if (repeats_an_index(conditions)) {
        for (const auto& condition : conditions)
            add(&condition, 1);
    } else {
        add(conditions.data(), static_cast<unsigned>(conditions.size()));
    }
}

std::string rule_place(size_t index, const oci::SeccompSyscall& rule) {
    std::string names;
    for (const auto& name : rule.names)
        names += (names.empty() ? "" : ", ") + name;
    return fmt::format("seccomp syscalls[{}] ({})", index, names);
}

} // namespace

SeccompProgram compile_seccomp(const oci::Seccomp& profile, const SkipReport& report) {
    const uint32_t default_action =
        parse_action(profile.default_action, profile.default_errno_ret, "seccomp defaultAction");
    const Filter filter(::seccomp_init(default_action));
    if (!filter) throw_errno("create", "a seccomp filter");
    // Raw errnos from seccomp_load instead of ECANCELED; older libseccomp lacks it.
    ::seccomp_attr_set(filter.get(), SCMP_FLTATR_API_SYSRAWRC, 1);
    // The runtime sets no_new_privs itself, and only when the config asks.
    set_attribute(filter.get(), SCMP_FLTATR_CTL_NNP, 0, "SCMP_FLTATR_CTL_NNP");
    add_architectures(filter.get(), profile.architectures, report);
    apply_flags(filter.get(), profile.flags, report);

    for (size_t i = 0; i < profile.syscalls.size(); ++i) {
        const auto& rule = profile.syscalls[i];
        const std::string where = rule_place(i, rule);
        if (rule.names.empty())
            throw InvalidSetting(
                fmt::format("{}: a seccomp rule needs at least one syscall name", where));
        const uint32_t action = parse_action(rule.action, rule.errno_ret, where);
        const auto conditions = parse_args(rule.args, where);
        // libseccomp refuses a rule that repeats the default action; it would change nothing.
        if (action == default_action) continue;
        for (const auto& name : rule.names)
            add_rule(filter.get(), action, name, conditions, report);
    }

    SeccompProgram program;
    program.flags = load_flags(profile.flags);
    const Fd memfd(::memfd_create("lcloud-seccomp", MFD_CLOEXEC));
    if (!memfd) throw_errno("create memfd for", "the seccomp filter");
    if (const int result = ::seccomp_export_bpf(filter.get(), memfd.get()); result != 0) {
        errno = -result;
        throw_errno("compile", "the seccomp filter");
    }
    const off_t size = ::lseek(memfd.get(), 0, SEEK_CUR);
    program.bpf.resize(static_cast<size_t>(size));
    if (::pread(memfd.get(), program.bpf.data(), program.bpf.size(), 0) != size)
        throw_errno("read back", "the seccomp filter");
    return program;
}

void load_seccomp(const SeccompProgram& program) {
    sock_fprog fprog{};
    fprog.len = static_cast<unsigned short>(program.bpf.size() / sizeof(sock_filter));
    fprog.filter = reinterpret_cast<sock_filter*>(const_cast<char*>(program.bpf.data()));
    if (::syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, program.flags, &fprog) == 0) return;
    if (errno == EACCES || errno == EPERM)
        throw NotPermitted("cannot load the seccomp filter: loading needs no_new_privs or "
                           "CAP_SYS_ADMIN; set process.noNewPrivileges, or load the filter before "
                           "dropping CAP_SYS_ADMIN");
    throw_errno("load", "the seccomp filter");
}

void apply_seccomp(const oci::Seccomp& profile, const SkipReport& report) {
    load_seccomp(compile_seccomp(profile, report));
}

SeccompProgram compile_seccomp_cached(const oci::Seccomp& profile,
                                      const std::filesystem::path& cache_dir) {
    const scmp_version* version = ::seccomp_version();
    const std::string key_text = fmt::format("{}.{}.{} {}", version->major, version->minor,
                                             version->micro, oci::to_json(profile).dump());
    const std::filesystem::path file =
        cache_dir / fmt::format("{:016x}.bpf", std::hash<std::string>{}(key_text));
    // The file holds the key too: a hash collision must not load another profile's filter.
    if (const auto cached = state::read_file(file)) {
        const size_t key_end = cached->find('\0');
        if (key_end != std::string::npos && cached->compare(0, key_end, key_text) == 0 &&
            cached->size() >= key_end + 1 + sizeof(unsigned int)) {
            SeccompProgram program;
            std::memcpy(&program.flags, cached->data() + key_end + 1, sizeof program.flags);
            program.bpf = cached->substr(key_end + 1 + sizeof program.flags);
            return program;
        }
    }
    SeccompProgram program = compile_seccomp(profile);
    std::string content = key_text;
    content.push_back('\0');
    content.append(reinterpret_cast<const char*>(&program.flags), sizeof program.flags);
    content += program.bpf;
    std::error_code ignored;
    std::filesystem::create_directories(cache_dir, ignored);
    try {
        state::write_file_atomic(file, content, 0600, state::Durability::killed_writer);
    } catch (const Error&) {
        // A cache that cannot be written only costs the next start its compile.
    }
    return program;
}

} // namespace lcloud::runtime::security

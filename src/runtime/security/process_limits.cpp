// apply_rlimits, set_no_new_privileges and set_oom_score_adj, declared in capabilities.hpp.

#include "runtime/security/capabilities.hpp"
#include "runtime/security/proc_files.hpp"
#include "runtime/security/suggest.hpp"

#include <array>
#include <cerrno>
#include <fmt/format.h>
#include <optional>
#include <string>
#include <sys/prctl.h>
#include <sys/resource.h>

namespace lcloud::runtime::security {

namespace {

struct RlimitType {
    std::string_view name;
    int resource;
};

constexpr std::array<RlimitType, 16> rlimit_types{{
    {"RLIMIT_CPU", RLIMIT_CPU},
    {"RLIMIT_FSIZE", RLIMIT_FSIZE},
    {"RLIMIT_DATA", RLIMIT_DATA},
    {"RLIMIT_STACK", RLIMIT_STACK},
    {"RLIMIT_CORE", RLIMIT_CORE},
    {"RLIMIT_RSS", RLIMIT_RSS},
    {"RLIMIT_NPROC", RLIMIT_NPROC},
    {"RLIMIT_NOFILE", RLIMIT_NOFILE},
    {"RLIMIT_MEMLOCK", RLIMIT_MEMLOCK},
    {"RLIMIT_AS", RLIMIT_AS},
    {"RLIMIT_LOCKS", RLIMIT_LOCKS},
    {"RLIMIT_SIGPENDING", RLIMIT_SIGPENDING},
    {"RLIMIT_MSGQUEUE", RLIMIT_MSGQUEUE},
    {"RLIMIT_NICE", RLIMIT_NICE},
    {"RLIMIT_RTPRIO", RLIMIT_RTPRIO},
    {"RLIMIT_RTTIME", RLIMIT_RTTIME},
}};

int rlimit_resource(const std::string& name) {
    std::vector<std::string_view> names;
    for (const auto& type : rlimit_types) {
        if (type.name == name) return type.resource;
        names.push_back(type.name);
    }
    if (const auto suggestion = closest_name(name, names, "RLIMIT_"))
        throw InvalidSetting(
            fmt::format("unknown rlimit type \"{}\"; did you mean {}?", name, *suggestion));
    std::string list;
    for (const auto type : names)
        list += (list.empty() ? "" : ", ") + std::string(type);
    throw InvalidSetting(fmt::format("unknown rlimit type \"{}\"; use one of {}", name, list));
}

std::optional<uint64_t> nr_open() {
    const auto text = read_proc_value("/proc/sys/fs/nr_open");
    try {
        if (text) return std::stoull(*text);
    } catch (const std::exception&) {
    }
    return std::nullopt;
}

std::string limit_text(rlim_t value) {
    return value == RLIM_INFINITY ? std::string("unlimited") : std::to_string(value);
}

[[noreturn]] void throw_setrlimit_error(const oci::Rlimit& rlimit, int resource) {
    const int error = errno;
    if (error == EPERM) {
        const auto most_files = resource == RLIMIT_NOFILE ? nr_open() : std::nullopt;
        if (most_files && rlimit.hard > *most_files)
            throw NotPermitted(fmt::format(
                "cannot set the hard limit of RLIMIT_NOFILE to {}: the kernel allows at most {} "
                "open files (fs.nr_open); ask for a hard limit of at most {}",
                limit_text(rlimit.hard), *most_files, *most_files));
        struct rlimit current {};
        if (::getrlimit(resource, &current) == 0 && rlimit.hard > current.rlim_max)
            throw NotPermitted(fmt::format(
                "cannot raise the hard limit of {} from {} to {}: raising a hard limit above the "
                "current one needs CAP_SYS_RESOURCE, which this process lacks; ask for a hard "
                "limit of at most {}",
                rlimit.type, limit_text(current.rlim_max), limit_text(rlimit.hard),
                limit_text(current.rlim_max)));
    }
    errno = error;
    throw_errno("setrlimit", fmt::format("{} (soft {}, hard {})", rlimit.type,
                                         limit_text(rlimit.soft), limit_text(rlimit.hard)));
}

} // namespace

void apply_rlimits(const std::vector<oci::Rlimit>& rlimits) {
    // Checked all first, so a mistake in the last entry leaves none of them applied.
    std::vector<int> resources;
    for (const auto& rlimit : rlimits) {
        const int resource = rlimit_resource(rlimit.type);
        for (const int seen : resources)
            if (seen == resource)
                throw InvalidSetting(fmt::format(
                    "rlimit {} is listed twice; list each rlimit type once", rlimit.type));
        if (rlimit.soft > rlimit.hard)
            throw InvalidSetting(fmt::format(
                "rlimit {}: the soft limit {} is above the hard limit {}; the soft limit must be "
                "at most the hard limit",
                rlimit.type, limit_text(rlimit.soft), limit_text(rlimit.hard)));
        resources.push_back(resource);
    }
    for (size_t i = 0; i < rlimits.size(); ++i) {
        const struct rlimit limit { rlimits[i].soft, rlimits[i].hard };
        if (::setrlimit(resources[i], &limit) != 0) throw_setrlimit_error(rlimits[i], resources[i]);
    }
}

void set_no_new_privileges() {
    if (::prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0)
        throw_errno("prctl(PR_SET_NO_NEW_PRIVS)", "this process");
}

void set_oom_score_adj(int score) {
    constexpr auto path = "/proc/self/oom_score_adj";
    if (score < -1000 || score > 1000)
        throw InvalidSetting(
            fmt::format("oomScoreAdj {} is out of range; use a value from -1000 to 1000", score));
    try {
        write_proc_value(path, std::to_string(score));
    } catch (const SystemError& error) {
        if (error.error_number() != EACCES) throw;
        const auto current = read_proc_value(path).value_or("?");
        throw NotPermitted(fmt::format(
            "cannot lower oomScoreAdj to {}: that needs CAP_SYS_RESOURCE, which this process "
            "lacks; a value of at least {} (the current one) is always allowed",
            score, current));
    }
}

} // namespace lcloud::runtime::security

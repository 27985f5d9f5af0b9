#include "runtime/security/capabilities.hpp"

#include "common/strings.hpp"
#include "runtime/security/proc_files.hpp"
#include "runtime/security/suggest.hpp"

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstdint>
#include <fmt/format.h>
#include <grp.h>
#include <memory>
#include <string>
#include <sys/capability.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <type_traits>
#include <unistd.h>

namespace lcloud::runtime::security {

namespace {

using Mask = uint64_t;

constexpr int highest_maskable = 63;

constexpr Mask bit(int cap) {
    return Mask{1} << cap;
}

struct CapFree {
    void operator()(void* object) const { ::cap_free(object); }
};
using CapState = std::unique_ptr<std::remove_pointer_t<cap_t>, CapFree>;
using CapText = std::unique_ptr<char, CapFree>;

struct Sets {
    Mask bounding = 0, permitted = 0, effective = 0, inheritable = 0, ambient = 0;
};

std::string to_upper(std::string_view text) {
    std::string upper(text);
    std::transform(upper.begin(), upper.end(), upper.begin(),
                   [](unsigned char c) { return static_cast<char>(std::toupper(c)); });
    return upper;
}

std::string capability_name(int cap) {
    const CapText name(::cap_to_name(cap));
    return name ? to_upper(name.get()) : fmt::format("capability {}", cap);
}

void report_each(Mask skipped, const char* set, std::string_view why, const SkipReport& report) {
    if (!report) return;
    for (int cap = 0; cap <= highest_maskable; ++cap)
        if (skipped & bit(cap))
            report(fmt::format("{} skipped in the {} set: {}", capability_name(cap), set, why));
}

Mask resolve(const std::vector<std::string>& names, const char* set, int last,
             const SkipReport& report) {
    Mask mask = 0;
    for (const auto& name : names) {
        const int cap = capability_from_name(name);
        if (cap > last) {
            if (report)
                report(fmt::format("{} skipped in the {} set: this kernel knows capabilities up "
                                   "to {} only",
                                   name, set, capability_name(last)));
            continue;
        }
        mask |= bit(cap);
    }
    return mask;
}

Mask proc_flag(cap_flag_t flag, int last) {
    const CapState state(::cap_get_proc());
    if (!state) throw_errno("read the capabilities of", "this process");
    Mask mask = 0;
    for (int cap = 0; cap <= last; ++cap) {
        cap_flag_value_t value = CAP_CLEAR;
        if (::cap_get_flag(state.get(), cap, flag, &value) == 0 && value == CAP_SET)
            mask |= bit(cap);
    }
    return mask;
}

Mask bounding_set(int last) {
    Mask mask = 0;
    for (int cap = 0; cap <= last; ++cap)
        if (::prctl(PR_CAPBSET_READ, cap, 0, 0, 0) == 1) mask |= bit(cap);
    return mask;
}

// What the kernel will accept, given what this process holds now: sets can only shrink.
Sets grantable(const Sets& wanted, int last, const SkipReport& report) {
    const Mask bounding_now = bounding_set(last);
    const Mask permitted_now = proc_flag(CAP_PERMITTED, last);
    const Mask inheritable_now = proc_flag(CAP_INHERITABLE, last);
    Sets granted;
    granted.bounding = wanted.bounding & bounding_now;
    report_each(wanted.bounding & ~granted.bounding, "bounding",
                "this process's bounding set lacks it, and a bounding set can only shrink", report);
    granted.permitted = wanted.permitted & permitted_now;
    report_each(wanted.permitted & ~granted.permitted, "permitted",
                "this process does not hold it, and capabilities can only be dropped", report);
    granted.effective = wanted.effective & granted.permitted;
    report_each(wanted.effective & ~granted.effective, "effective",
                "an effective capability must also be permitted", report);
    // capset(2): a new inheritable capability must be held already and be in the bounding set.
    const Mask inheritable_ok =
        (inheritable_now | permitted_now) & (inheritable_now | granted.bounding);
    granted.inheritable = wanted.inheritable & inheritable_ok;
    report_each(wanted.inheritable & ~granted.inheritable, "inheritable",
                "an inheritable capability must be held by this process and be in the bounding "
                "set",
                report);
    granted.ambient = wanted.ambient & granted.permitted & granted.inheritable;
    report_each(wanted.ambient & ~granted.ambient, "ambient",
                "an ambient capability must also be permitted and inheritable", report);
    return granted;
}

void set_keep_caps(int keep) {
    if (::prctl(PR_SET_KEEPCAPS, keep, 0, 0, 0) != 0)
        throw_errno("prctl(PR_SET_KEEPCAPS)", "this process");
}

void shrink_bounding_set(Mask keep, int last) {
    for (int cap = 0; cap <= last; ++cap) {
        if ((keep & bit(cap)) || ::prctl(PR_CAPBSET_READ, cap, 0, 0, 0) != 1) continue;
        if (::prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) == 0) continue;
        if (errno == EPERM)
            throw NotPermitted(fmt::format(
                "cannot drop {} from the capability bounding set: that needs CAP_SETPCAP, which "
                "this process lacks; start the container's init with CAP_SETPCAP",
                capability_name(cap)));
        throw_errno("drop from the capability bounding set", capability_name(cap));
    }
}

std::string id_list(const std::vector<uint32_t>& ids) {
    std::string text;
    for (const auto id : ids)
        text += (text.empty() ? "" : ", ") + std::to_string(id);
    return "[" + text + "]";
}

void set_groups(const std::vector<uint32_t>& gids) {
    const auto policy = read_proc_value("/proc/self/setgroups");
    if (policy && *policy == "deny") {
        if (gids.empty()) return;
        throw NotPermitted(fmt::format(
            "cannot set additionalGids {}: setgroups is denied in this user namespace "
            "(/proc/self/setgroups says deny); remove additionalGids, or have the gid mapping "
            "written by a process with CAP_SETGID in the parent user namespace",
            id_list(gids)));
    }
    const std::vector<gid_t> groups(gids.begin(), gids.end());
    if (::setgroups(groups.size(), groups.data()) == 0) return;
    if (errno == EINVAL)
        throw InvalidSetting(fmt::format("cannot set additionalGids {}: a gid is not mapped in "
                                         "this user namespace; map it in linux.gidMappings",
                                         id_list(gids)));
    throw_errno("setgroups", "additionalGids " + id_list(gids));
}

[[noreturn]] void throw_id_error(const char* call, const char* kind, uint32_t id) {
    if (errno == EINVAL)
        throw InvalidSetting(fmt::format("{}: {} {} is not mapped in this user namespace; map it "
                                         "in linux.{}Mappings",
                                         call, kind, id, kind));
    throw_errno(call, fmt::format("{} {}", kind, id));
}

void set_ids(const oci::User& user) {
    if (::setresgid(user.gid, user.gid, user.gid) != 0)
        throw_id_error("setresgid", "gid", user.gid);
    if (::setresuid(user.uid, user.uid, user.uid) != 0)
        throw_id_error("setresuid", "uid", user.uid);
}

std::string describe(const Sets& sets) {
    return fmt::format("permitted {:#x}, effective {:#x}, inheritable {:#x}", sets.permitted,
                       sets.effective, sets.inheritable);
}

void set_process_sets(const Sets& sets, int last) {
    const CapState state(::cap_init());
    if (!state) throw_errno("allocate", "a capability state");
    const auto add = [&](cap_flag_t flag, Mask mask) {
        std::vector<cap_value_t> list;
        for (int cap = 0; cap <= last; ++cap)
            if (mask & bit(cap)) list.push_back(cap);
        if (!list.empty() && ::cap_set_flag(state.get(), flag, static_cast<int>(list.size()),
                                            list.data(), CAP_SET) != 0)
            throw_errno("build capability state", describe(sets));
    };
    add(CAP_PERMITTED, sets.permitted);
    add(CAP_EFFECTIVE, sets.effective);
    add(CAP_INHERITABLE, sets.inheritable);
    if (::cap_set_proc(state.get()) != 0) throw_errno("set capabilities", describe(sets));
}

void set_ambient(Mask ambient, int last, const SkipReport& report) {
    if (::prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) != 0) {
        if (errno != EINVAL) throw_errno("clear the ambient capabilities of", "this process");
        report_each(ambient, "ambient", "this kernel has no ambient capabilities", report);
        return;
    }
    for (int cap = 0; cap <= last; ++cap)
        if ((ambient & bit(cap)) && ::prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_RAISE, cap, 0, 0) != 0)
            throw_errno("raise the ambient capability", capability_name(cap));
}

void set_umask(const std::optional<uint32_t>& mask) {
    if (!mask) return;
    if (*mask > 0777)
        throw InvalidSetting(
            fmt::format("user.umask {:#o} is not a file mode mask; use 0 to 0777", *mask));
    ::umask(static_cast<mode_t>(*mask));
}

} // namespace

int capability_from_name(std::string_view name) {
    const bool well_formed = name.starts_with("CAP_") && name.size() > 4 &&
                             std::all_of(name.begin() + 4, name.end(), [](char c) {
                                 return c == '_' || std::isupper(static_cast<unsigned char>(c));
                             });
    cap_value_t cap = 0;
    if (well_formed && ::cap_from_name(to_lower(name).c_str(), &cap) == 0) return cap;

    std::vector<std::string> known;
    for (int value = 0; value < ::cap_max_bits() || value <= CAP_LAST_CAP; ++value) {
        const CapText text(::cap_to_name(value));
        if (text && !std::isdigit(static_cast<unsigned char>(text.get()[0])))
            known.push_back(to_upper(text.get()));
    }
    const auto suggestion =
        closest_name(name, std::vector<std::string_view>(known.begin(), known.end()), "CAP_");
    throw InvalidSetting(fmt::format(
        "unknown capability \"{}\"; {}", name,
        suggestion
            ? fmt::format("did you mean {}?", *suggestion)
            : std::string("capabilities are named as in capabilities(7), e.g. CAP_NET_RAW")));
}

int last_capability() {
    const auto text = read_proc_value("/proc/sys/kernel/cap_last_cap");
    int last = -1;
    if (text) {
        try {
            last = std::stoi(*text);
        } catch (const std::exception&) {
        }
    }
    // Without /proc, libcap probes the kernel itself.
    if (last < 0) last = ::cap_max_bits() - 1;
    return std::min(last, highest_maskable);
}

void change_user(const oci::User& user, const std::optional<oci::Capabilities>& caps,
                 const SkipReport& report) {
    const int last = last_capability();
    Sets wanted;
    if (caps) {
        wanted.bounding = resolve(caps->bounding, "bounding", last, report);
        wanted.permitted = resolve(caps->permitted, "permitted", last, report);
        wanted.effective = resolve(caps->effective, "effective", last, report);
        wanted.inheritable = resolve(caps->inheritable, "inheritable", last, report);
        wanted.ambient = resolve(caps->ambient, "ambient", last, report);
    }
    const Sets granted = grantable(wanted, last, report);

    set_umask(user.umask);
    set_keep_caps(1);
    // Needs CAP_SETPCAP, which the sets below may take away.
    shrink_bounding_set(granted.bounding, last);
    set_groups(user.additional_gids);
    set_ids(user);
    set_keep_caps(0);
    set_process_sets(granted, last);
    set_ambient(granted.ambient, last, report);
}

} // namespace lcloud::runtime::security

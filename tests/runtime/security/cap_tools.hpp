#pragma once

// Changes a test child's own capabilities before the code under test runs, to set up the state
// it must clean up or cope with.

#include <initializer_list>
#include <memory>
#include <stdexcept>
#include <string>
#include <sys/capability.h>
#include <sys/prctl.h>
#include <type_traits>
#include <vector>

namespace lcloud::test {

struct CapFree {
    void operator()(void* object) const { ::cap_free(object); }
};
using CapState = std::unique_ptr<std::remove_pointer_t<cap_t>, CapFree>;

// Sets or clears `caps` in the given sets of this process.
inline void change_own_caps(std::initializer_list<cap_flag_t> flags,
                            std::initializer_list<cap_value_t> caps, cap_flag_value_t value) {
    const CapState state(::cap_get_proc());
    if (!state) throw std::runtime_error("cap_get_proc failed");
    std::vector<cap_value_t> list(caps);
    for (const auto flag : flags)
        if (::cap_set_flag(state.get(), flag, static_cast<int>(list.size()), list.data(), value) !=
            0)
            throw std::runtime_error("cap_set_flag failed");
    if (::cap_set_proc(state.get()) != 0) throw std::runtime_error("cap_set_proc failed");
}

// Removes `cap` from this process entirely, as if the machine never granted it.
inline void lose_capability(cap_value_t cap) {
    if (::prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) != 0)
        throw std::runtime_error("PR_CAPBSET_DROP failed for " + std::to_string(cap));
    change_own_caps({CAP_PERMITTED, CAP_EFFECTIVE, CAP_INHERITABLE}, {cap}, CAP_CLEAR);
}

} // namespace lcloud::test

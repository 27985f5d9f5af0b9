#include "providers/machine.hpp"

namespace lcloud::providers {

std::string_view to_string(MachineState state) {
    switch (state) {
    case MachineState::not_created:
        return "not created";
    case MachineState::running:
        return "running";
    case MachineState::paused:
        return "paused";
    case MachineState::saved:
        return "suspended";
    case MachineState::shut_off:
        return "halted";
    case MachineState::crashed:
        return "crashed";
    case MachineState::other:
        break;
    }
    return "unknown";
}

} // namespace lcloud::providers

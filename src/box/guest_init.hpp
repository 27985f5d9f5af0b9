#pragma once

#include <string_view>

namespace lcloud::box {

// src/box/guest/init, compiled in: PID 1 of the lcloud box.
extern const std::string_view guest_init;

} // namespace lcloud::box

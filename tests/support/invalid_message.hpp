#pragma once

#include "common/strings.hpp"

#include <string>

namespace lcloud::test {

// The message of the InvalidValue that `parse` throws, or "(no error)".
template <typename Parse> std::string invalid_message(Parse parse) {
    try {
        parse();
    } catch (const InvalidValue& invalid) {
        return invalid.message();
    }
    return "(no error)";
}

} // namespace lcloud::test

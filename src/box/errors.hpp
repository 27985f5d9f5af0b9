#pragma once

#include "common/error.hpp"

namespace lcloud::box {

// A box that cannot be built, found, added or removed; the message names the box or the file.
class BoxError : public Error {
  public:
    using Error::Error;
};

} // namespace lcloud::box

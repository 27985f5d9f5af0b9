#pragma once

#include "common/error.hpp"

#include <string>

namespace lcloud::agent {

// A published port that cannot be bound because something holds it: "127.0.0.1:8080/tcp is
// already in use by nginx (pid 1234)".
class PortInUse : public Error {
  public:
    using Error::Error;
};

// A host or target address that is not an IP address.
class InvalidPortAddress : public Error {
  public:
    using Error::Error;
};

} // namespace lcloud::agent

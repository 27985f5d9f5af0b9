#pragma once

#include "common/error.hpp"

namespace lcloud::agent {

// A DNS message that cannot be read: truncated, a label or name too long, a compression pointer
// that does not point backwards. The server drops such packets.
class MalformedDnsMessage : public Error {
  public:
    using Error::Error;
};

// A record set or upstream that cannot be served: the message names the entry and what is right.
class InvalidDnsConfig : public Error {
  public:
    using Error::Error;
};

} // namespace lcloud::agent

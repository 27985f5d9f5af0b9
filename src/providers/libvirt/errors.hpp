#pragma once

#include "common/error.hpp"

#include <string>

namespace lcloud::providers::libvirt {

// A failed libvirt call: what was being done, to which object, and libvirt's own message.
class LibvirtError : public Error {
  public:
    using Error::Error;
};

// libvirtd cannot be reached or refuses us: the message says what to run.
class LibvirtUnavailable : public LibvirtError {
  public:
    using LibvirtError::LibvirtError;
};

// The guest did not become ready in time; the message carries the diagnosis.
class GuestNotReady : public LibvirtError {
  public:
    using LibvirtError::LibvirtError;
};

// libvirt's last error message, kept before a later call (a state check) replaces it.
std::string last_libvirt_error();

// Throws LibvirtError: "<what>: <libvirt's last error>" (or the message kept earlier).
[[noreturn]] void throw_libvirt(const std::string& what);
[[noreturn]] void throw_libvirt(const std::string& what, const std::string& message);

} // namespace lcloud::providers::libvirt

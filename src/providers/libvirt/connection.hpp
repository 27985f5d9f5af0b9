#pragma once

#include "providers/libvirt/handles.hpp"

#include <string>

namespace lcloud::providers::libvirt {

// Opens the connection; when libvirtd is not running or refuses us, a LibvirtUnavailable that
// says what to run. libvirt's own error printing to stderr is turned off: errors reach the user
// once, through our exceptions.
ConnectionHandle connect(const std::string& uri);

} // namespace lcloud::providers::libvirt

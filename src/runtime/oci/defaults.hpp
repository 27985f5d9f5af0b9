#pragma once

#include "runtime/oci/config.hpp"

namespace lcloud::runtime::oci {

// What `lcloud-runtime spec` writes and what lcloud starts its own containers from: conservative
// like `runc spec` (read-only root, new namespaces except user, masked /proc files, no device
// access beyond the defaults) with Docker's default capabilities and a seccomp profile in the
// spirit of Docker's. See defaults.cpp for each choice.
Config default_spec();

} // namespace lcloud::runtime::oci

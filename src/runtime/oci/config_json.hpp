#pragma once

// Config back to config.json, with the spec's field names and order. Like `runc spec` and
// `crun spec`, only what is set is written: empty lists and strings and unset optionals are left
// out, so parse_config(to_json(config).dump()) gives the same Config back.

#include "runtime/oci/config.hpp"

#include <nlohmann/json.hpp>

namespace lcloud::runtime::oci {

nlohmann::ordered_json to_json(const Config& config);
nlohmann::ordered_json to_json(const Seccomp& seccomp);

} // namespace lcloud::runtime::oci

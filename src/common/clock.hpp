#pragma once

#include <string>

namespace lcloud {

// The current time as RFC 3339 UTC with nanoseconds ("2026-11-23T16:34:32.864585916Z"), as the
// OCI state, Docker's image history and the agent's records and events write it.
std::string now_rfc3339_nanos();

} // namespace lcloud

#pragma once

#include "ssh/session.hpp"

#include <string>

namespace lcloud::ssh {

// An OpenSSH client configuration block, so that plain `ssh alias` reaches the target with the
// same key and the same pinned host key as lcloud does.
std::string ssh_config_block(const std::string& alias, const Target& target);

} // namespace lcloud::ssh

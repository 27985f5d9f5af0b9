#pragma once

// Reading an OCI bundle's config.json into Config. Unknown fields are ignored, as the spec asks;
// a JSON null counts as absent, as with Go's decoder (runc, containerd). Whatever is wrong is
// reported as one line naming the file, the JSON path of the field, what is wrong and what would
// be right:
//   config.json: process.user.uid: expected a non-negative integer, got "abc"
//   config.json: line 3, column 5: invalid JSON: ...

#include "common/error.hpp"
#include "runtime/oci/config.hpp"

#include <filesystem>
#include <string_view>

namespace lcloud::runtime::oci {

// A config.json that cannot be read or is not a valid configuration. The message is the whole
// line, beginning with the file's name.
class ConfigError : public lcloud::Error {
  public:
    using Error::Error;
};

// `file_name` begins every message.
Config parse_config(std::string_view json_text, std::string_view file_name = "config.json");

// Reads and parses `bundle_dir`/config.json; messages name that path.
Config load_config(const std::filesystem::path& bundle_dir);

} // namespace lcloud::runtime::oci

#pragma once

#include <map>
#include <string>
#include <string_view>

namespace lcloud::project {

// A .env or env_file: KEY=value lines, `export` allowed, # comments, single quotes literal,
// double quotes with \n \t \" \\ escapes. Throws InvalidValue naming the line.
std::map<std::string, std::string> parse_dotenv(std::string_view text);

bool is_variable_name(std::string_view name);

} // namespace lcloud::project

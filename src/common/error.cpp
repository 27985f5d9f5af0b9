#include "common/error.hpp"

#include <cerrno>
#include <cstring>

namespace lcloud {

SystemError::SystemError(const std::string& operation, const std::string& object, int error_number)
    : Error(operation + " " + object + ": " + std::strerror(error_number)),
      error_number_(error_number), object_(object) {}

void throw_errno(const std::string& operation, const std::string& object) {
    throw SystemError(operation, object, errno);
}

} // namespace lcloud

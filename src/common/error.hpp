#pragma once

#include <stdexcept>
#include <string>

namespace lcloud {

// Every failure that reaches the user is an Error: one clear line, caught once at the CLI
// boundary. Subclasses carry the context a caller may want to act on.
class Error : public std::runtime_error {
  public:
    explicit Error(const std::string& message) : std::runtime_error(message) {}
    virtual int exit_code() const { return 1; }
};

// Wrong command-line use: exit code 2.
class UsageError : public Error {
  public:
    using Error::Error;
    int exit_code() const override { return 2; }
};

// A failed system call: names the operation, the object and the errno.
class SystemError : public Error {
  public:
    SystemError(const std::string& operation, const std::string& object, int error_number);
    int error_number() const { return error_number_; }
    const std::string& object() const { return object_; }

  private:
    int error_number_;
    std::string object_;
};

// Throws SystemError with the current errno.
[[noreturn]] void throw_errno(const std::string& operation, const std::string& object);

} // namespace lcloud

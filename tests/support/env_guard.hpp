#pragma once

#include <cstdlib>
#include <optional>
#include <string>

namespace lcloud::test {

// Sets an environment variable for the scope of a test; the old value comes back after it.
class EnvGuard {
  public:
    EnvGuard(std::string name, const std::string& value) : name_(std::move(name)) {
        if (const char* old = std::getenv(name_.c_str())) old_ = old;
        ::setenv(name_.c_str(), value.c_str(), 1);
    }
    ~EnvGuard() {
        if (old_)
            ::setenv(name_.c_str(), old_->c_str(), 1);
        else
            ::unsetenv(name_.c_str());
    }
    EnvGuard(const EnvGuard&) = delete;
    EnvGuard& operator=(const EnvGuard&) = delete;

  private:
    std::string name_;
    std::optional<std::string> old_;
};

} // namespace lcloud::test

#pragma once

#include "common/error.hpp"

#include <string>
#include <utility>
#include <vector>

namespace lcloud::providers::forward {

// Host ports that cannot be forwarded because something else holds them, one problem each
// ("127.0.0.1:8080/tcp is already in use by nginx (pid 1234)"); the message lists them all.
class PortsInUse : public Error {
  public:
    explicit PortsInUse(std::vector<std::string> problems);
    const std::vector<std::string>& problems() const { return problems_; }

  private:
    std::vector<std::string> problems_;
};

// The forwarder process could not be started, reloaded or stopped, or cannot serve some of its
// ports; the message says why and quotes its log where that helps.
class ForwarderError : public Error {
  public:
    using Error::Error;
};

} // namespace lcloud::providers::forward

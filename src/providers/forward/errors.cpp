#include "providers/forward/errors.hpp"

namespace lcloud::providers::forward {

namespace {

std::string list(const std::vector<std::string>& problems) {
    if (problems.size() == 1) return problems.front();
    std::string message = "host ports are taken:";
    for (const auto& problem : problems)
        message += "\n  " + problem;
    return message;
}

} // namespace

PortsInUse::PortsInUse(std::vector<std::string> problems)
    : Error(list(problems)), problems_(std::move(problems)) {}

} // namespace lcloud::providers::forward

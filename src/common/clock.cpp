#include "common/clock.hpp"

#include <ctime>
#include <fmt/format.h>

namespace lcloud {

std::string now_rfc3339_nanos() {
    timespec now{};
    ::clock_gettime(CLOCK_REALTIME, &now);
    tm parts{};
    ::gmtime_r(&now.tv_sec, &parts);
    return fmt::format("{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:09}Z", parts.tm_year + 1900,
                       parts.tm_mon + 1, parts.tm_mday, parts.tm_hour, parts.tm_min, parts.tm_sec,
                       now.tv_nsec);
}

} // namespace lcloud

#include "cli/logging.hpp"

#include <spdlog/sinks/ansicolor_sink.h>
#include <spdlog/sinks/rotating_file_sink.h>
#include <spdlog/spdlog.h>

namespace lcloud::cli {

void setup_logging(Verbosity verbosity, bool color) {
    auto console = std::make_shared<spdlog::sinks::ansicolor_stderr_sink_mt>(
        color ? spdlog::color_mode::automatic : spdlog::color_mode::never);
    console->set_pattern("%^%l%$: %v");
    console->set_level(verbosity == Verbosity::verbose ? spdlog::level::debug
                       : verbosity == Verbosity::quiet ? spdlog::level::err
                                                       : spdlog::level::warn);
    auto logger = std::make_shared<spdlog::logger>("lcloud", console);
    logger->set_level(spdlog::level::debug);
    spdlog::set_default_logger(logger);
}

void add_state_log(const std::filesystem::path& dir) {
    static std::filesystem::path added;
    if (added == dir) return;
    added = dir;
    try {
        // Bounded, so a long-lived environment does not grow its log forever.
        auto file = std::make_shared<spdlog::sinks::rotating_file_sink_mt>((dir / "log").string(),
                                                                           4 * 1024 * 1024, 1);
        file->set_pattern("%Y-%m-%dT%H:%M:%S.%e [%P] %l: %v");
        file->set_level(spdlog::level::debug);
        spdlog::default_logger()->sinks().push_back(file);
    } catch (const spdlog::spdlog_ex& error) {
        spdlog::debug("no log file in {}: {}", dir.string(), error.what());
    }
}

} // namespace lcloud::cli

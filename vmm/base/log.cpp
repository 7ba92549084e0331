// SPDX-License-Identifier: Apache-2.0
// Logging set-up.
#include "vmm/base/log.h"

#include <algorithm>
#include <cctype>
#include <string>

#include <spdlog/sinks/stdout_color_sinks.h>

namespace vmm {

std::optional<spdlog::level::level_enum> parse_log_level(std::string_view name) {
    std::string lower(name);
    std::ranges::transform(lower, lower.begin(),
                           [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
    using spdlog::level::level_enum;
    if (lower == "trace") return level_enum::trace;
    if (lower == "debug") return level_enum::debug;
    if (lower == "info") return level_enum::info;
    if (lower == "warn" || lower == "warning") return level_enum::warn;
    if (lower == "error") return level_enum::err;
    if (lower == "off") return level_enum::off;
    return std::nullopt;
}

void init_logging(spdlog::level::level_enum level) {
    auto logger = spdlog::stderr_color_mt("wisp");
    logger->set_pattern("wisp: %^%l%$: %v");
    logger->set_level(level);
    spdlog::set_default_logger(logger);
}

}  // namespace vmm

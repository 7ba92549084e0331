// SPDX-License-Identifier: Apache-2.0
// Logging set-up (spdlog to stderr) and the once-per-site helper for guest misbehaviour.
#pragma once

#include <atomic>
#include <optional>
#include <string_view>

#include <spdlog/spdlog.h>

namespace vmm {

/// Accepts spdlog's names and Firecracker's (Error, Warning, Info, Debug, Trace, Off), any case.
std::optional<spdlog::level::level_enum> parse_log_level(std::string_view name);
void init_logging(spdlog::level::level_enum level);

/// True the first time it is asked; guest-triggered warnings use it so a hostile guest cannot
/// flood the log ("log once, go on").
class LogOnce {
public:
    bool first() { return !m_done.exchange(true, std::memory_order_relaxed); }

private:
    std::atomic<bool> m_done{false};
};

}  // namespace vmm

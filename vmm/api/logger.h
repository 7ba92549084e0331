// SPDX-License-Identifier: Apache-2.0
// The log as Firecracker's PUT /logger and --log-path/--level set it: spdlog's default logger
// writes to the file (appended to; a named pipe works) at the level given, with Firecracker's
// level names (Error, Warning, Info, Debug, Trace, Off).
#pragma once

#include "vmm/api/resources.h"

namespace vmm::api {

/// Sends the log where `settings` say (stderr without log_path).
Result<void> configure_logger(LoggerSettings const& settings);

}  // namespace vmm::api

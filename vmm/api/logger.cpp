// SPDX-License-Identifier: Apache-2.0
// Logger set-up.
#include "vmm/api/logger.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>

#include <fmt/format.h>
#include <spdlog/sinks/basic_file_sink.h>
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

#include "vmm/base/log.h"

namespace vmm::api {

Result<void> configure_logger(LoggerSettings const& settings) {
    auto level = parse_log_level(settings.level);
    if (!level)
        return fail(ErrorKind::Usage, fmt::format("logger level '{}' is not one of Error, "
                                                  "Warning, Info, Debug, Trace, Off",
                                                  settings.level));
    std::shared_ptr<spdlog::logger> logger;
    if (settings.log_path) {
        // Check first, for a message that names the file: spdlog's own says less.
        int const fd = ::open(settings.log_path->c_str(),
                              O_WRONLY | O_APPEND | O_CREAT | O_NONBLOCK | O_CLOEXEC, 0644);
        if (fd < 0)
            return std::unexpected(Error::from_errno(
                fmt::format("log_path '{}' cannot be opened for writing (check the directory "
                            "exists and is writable)", *settings.log_path),
                errno, ErrorKind::Input));
        ::close(fd);
        auto sink = std::make_shared<spdlog::sinks::basic_file_sink_mt>(*settings.log_path);
        logger = std::make_shared<spdlog::logger>("wisp", std::move(sink));
        logger->flush_on(spdlog::level::trace);  // a client tails the file
    } else {
        logger = std::make_shared<spdlog::logger>(
            "wisp", std::make_shared<spdlog::sinks::stderr_color_sink_mt>());
    }
    std::string pattern = "%Y-%m-%dT%H:%M:%S.%f [wisp] ";
    if (settings.show_level) pattern += "[%^%l%$] ";
    if (settings.show_log_origin) pattern += "[%s:%#] ";
    logger->set_pattern(pattern + "%v");
    logger->set_level(*level);
    spdlog::set_default_logger(std::move(logger));
    return {};
}

}  // namespace vmm::api

// SPDX-License-Identifier: Apache-2.0
// Metrics lines.
#include "vmm/api/metrics.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

namespace vmm::api {

Metrics::Metrics(VmmControl const& vmm, std::string id, std::chrono::milliseconds period)
    : m_vmm(vmm), m_id(std::move(id)), m_period(period) {}

Metrics::~Metrics() {
    {
        std::lock_guard guard(m_lock);
        m_stop = true;
        m_wake.notify_all();
    }
    if (m_thread.joinable()) m_thread.join();
}

Result<void> Metrics::configure(MetricsSettings settings) {
    std::lock_guard guard(m_lock);
    if (m_settings)
        return fail(ErrorKind::Usage, fmt::format("the metrics already go to '{}': they can be set "
                                                  "up once", m_settings->metrics_path));
    // O_NONBLOCK: a named pipe nobody reads must not stall the API.
    int const fd = ::open(settings.metrics_path.c_str(),
                          O_WRONLY | O_APPEND | O_CREAT | O_NONBLOCK | O_CLOEXEC, 0644);
    if (fd < 0)
        return std::unexpected(Error::from_errno(
            fmt::format("metrics_path '{}' cannot be opened for writing (check the directory "
                        "exists and is writable)", settings.metrics_path),
            errno, ErrorKind::Input));
    m_file = UniqueFd(fd);
    m_settings = std::move(settings);
    m_thread = std::thread([this] { periodic(); });
    return {};
}

bool Metrics::configured() const {
    std::lock_guard guard(m_lock);
    return m_settings.has_value();
}

void Metrics::count_request(std::string const& endpoint, bool failed) {
    std::lock_guard guard(m_lock);
    auto& counts = m_requests[endpoint];
    ++counts.count;
    if (failed) ++counts.fails;
}

Json Metrics::snapshot() const {
    Json api = Json::object();
    uint64_t total = 0, errors = 0;
    {
        std::lock_guard guard(m_lock);
        for (auto const& [endpoint, counts] : m_requests) {
            api[endpoint + "_count"] = counts.count;
            api[endpoint + "_fails"] = counts.fails;
            total += counts.count;
            errors += counts.fails;
        }
    }
    api["requests"] = total;
    api["errors"] = errors;
    Json vmm = Json::parse(m_vmm.metrics_json(), nullptr, false);
    if (vmm.is_discarded()) vmm = Json{{"unparsable", m_vmm.metrics_json()}};
    return Json{{"api_server", std::move(api)}, {"vmm", std::move(vmm)}};
}

Result<void> Metrics::write_line(std::string const& line) {
    size_t done = 0;
    while (done < line.size()) {
        ssize_t const n = ::write(m_file.get(), line.data() + done, line.size() - done);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0)
            return std::unexpected(Error::from_errno(
                fmt::format("writing the metrics to '{}'", m_settings->metrics_path), errno));
        done += static_cast<size_t>(n);
    }
    return {};
}

Result<void> Metrics::flush() {
    Json line = snapshot();
    auto const now = std::chrono::duration_cast<std::chrono::milliseconds>(
        std::chrono::system_clock::now().time_since_epoch());
    line["utc_timestamp_ms"] = now.count();
    std::lock_guard guard(m_lock);
    if (!m_settings)
        return fail(ErrorKind::Usage, "no metrics file is set: PUT /metrics with metrics_path "
                                      "(or start wisp with --metrics-path) first");
    if (m_settings->emit_id) line["id"] = m_id;
    if (!m_settings->properties.empty()) line["properties"] = m_settings->properties;
    line["flushes"] = ++m_flushes;
    return write_line(line.dump() + "\n");
}

void Metrics::periodic() {
    std::unique_lock lock(m_lock);
    while (!m_wake.wait_for(lock, m_period, [&] { return m_stop; })) {
        lock.unlock();
        if (auto flushed = flush(); !flushed)
            spdlog::warn("periodic metrics flush: {}", flushed.error());
        lock.lock();
    }
}

}  // namespace vmm::api

// SPDX-License-Identifier: Apache-2.0
// Metrics: one JSON line per flush to the metrics file (Firecracker's PUT /metrics,
// --metrics-path): on FlushMetrics and every 60 s. The VMM's counters (per device, vCPU exits)
// come from VmmControl::metrics_json(); the API's request and error counters are kept here.
// Counters are cumulative since wisp started.
#pragma once

#include <chrono>
#include <condition_variable>
#include <map>
#include <mutex>
#include <string>
#include <thread>

#include "vmm/api/resources.h"
#include "vmm/base/unique_fd.h"
#include "vmm/control.h"

namespace vmm::api {

class Metrics {
public:
    static constexpr std::chrono::seconds kDefaultPeriod{60};

    Metrics(VmmControl const& vmm, std::string id,
            std::chrono::milliseconds period = kDefaultPeriod);
    ~Metrics();
    Metrics(Metrics const&) = delete;
    Metrics& operator=(Metrics const&) = delete;

    /// Opens the metrics file (created if missing, appended to) and starts the periodic flush.
    /// Refused once configured, as in Firecracker.
    Result<void> configure(MetricsSettings settings);
    bool configured() const;
    /// Writes one line now.
    Result<void> flush();
    /// One API request to `endpoint` ("put_drives", "get_instance_info", ...), failed or not.
    void count_request(std::string const& endpoint, bool failed);
    /// What the next line would hold (without its timestamp).
    Json snapshot() const;

private:
    void periodic();
    Result<void> write_line(std::string const& line);

    VmmControl const& m_vmm;
    std::string const m_id;
    std::chrono::milliseconds const m_period;
    mutable std::mutex m_lock;
    std::condition_variable m_wake;
    std::optional<MetricsSettings> m_settings;
    UniqueFd m_file;
    struct Counts {
        uint64_t count = 0;
        uint64_t fails = 0;
    };
    std::map<std::string, Counts> m_requests;
    uint64_t m_flushes = 0;
    bool m_stop = false;
    std::thread m_thread;
};

}  // namespace vmm::api

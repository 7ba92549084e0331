// SPDX-License-Identifier: Apache-2.0
// RequestHandler: one API request (method, path, body) -> one response, as Firecracker's API
// answers it (swagger spec): 204 for an accepted PUT/PATCH, 200 with JSON for a GET, 400 with
// {"fault_message": ...} for every refusal. It only parses, keeps the pre-boot configuration
// (VmResources) and forwards commands to the VMM through VmmControl; it knows no HTTP library,
// so the socket server (vmm/api/http_server.h) stays a thin adapter. Thread-safe: requests are
// served one at a time, in order.
#pragma once

#include <functional>
#include <mutex>
#include <string>
#include <string_view>

#include "vmm/api/metrics.h"
#include "vmm/api/resources.h"
#include "vmm/control.h"

namespace vmm::api {

struct ApiResponse {
    int status = 204;
    std::string body;  // JSON; empty for 204
};

/// Firecracker's limit on a request body (--http-api-max-payload-size's default).
inline constexpr size_t kMaxBodyBytes = 51200;

/// The JSON body of a 400 answer.
std::string fault_body(std::string_view message);

class RequestHandler {
public:
    /// Called around an InstanceStart that is forwarded (before the VMM starts; after it failed
    /// to): the front end hands SIGTERM to the machine's own handling there.
    struct StartHooks {
        std::function<void()> before;
        std::function<void()> after_failure;
    };

    RequestHandler(VmmControl& vmm, VmResources resources, Metrics& metrics,
                   StartHooks hooks = {});

    ApiResponse handle(std::string_view method, std::string_view path, std::string_view body);

    /// The start the config file asks for (--config-file): as InstanceStart.
    Result<void> start();
    VmResources resources() const;

private:
    Result<ApiResponse> route(std::string_view method, std::string_view path,
                              std::string_view body, std::string& endpoint);
    Result<ApiResponse> action(std::string_view body);
    Result<void> start_locked();
    Result<void> require_not_started(std::string const& where) const;
    Result<void> require_started(std::string const& where) const;

    VmmControl& m_vmm;
    Metrics& m_metrics;
    StartHooks m_hooks;
    mutable std::mutex m_lock;
    VmResources m_resources;
    bool m_started = false;
};

}  // namespace vmm::api

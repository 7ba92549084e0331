// SPDX-License-Identifier: Apache-2.0
// Routing and answering API requests.
#include "vmm/api/request_handler.h"

#include <array>
#include <ranges>
#include <vector>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "vmm/api/logger.h"

namespace vmm::api {
namespace {

constexpr ApiResponse kNoContent{204, {}};

ApiResponse ok_json(Json const& value) { return ApiResponse{200, value.dump()}; }

std::vector<std::string_view> split_path(std::string_view path) {
    std::vector<std::string_view> parts;
    for (auto part : std::views::split(path, '/')) {
        if (!std::ranges::empty(part)) parts.emplace_back(part.begin(), part.end());
    }
    return parts;
}

// Paths of Firecracker's spec that wisp does not implement yet: answered 400 saying so.
constexpr std::array kNotImplemented{
    "balloon", "cpu-config", "pmem", "mmds", "serial", "hotplug", "snapshot",
};

std::unexpected<Error> refuse(std::string text) {
    return fail(ErrorKind::Usage, std::move(text));
}

std::unexpected<Error> wrong_method(std::string_view method, std::string_view path,
                                    std::string_view allowed) {
    return refuse(fmt::format("{} {} is not allowed: {} takes {}", method, path, path, allowed));
}

}  // namespace

std::string fault_body(std::string_view message) {
    return Json{{"fault_message", message}}.dump();
}

RequestHandler::RequestHandler(VmmControl& vmm, VmResources resources, Metrics& metrics,
                               StartHooks hooks)
    : m_vmm(vmm), m_metrics(metrics), m_hooks(std::move(hooks)),
      m_resources(std::move(resources)) {}

VmResources RequestHandler::resources() const {
    std::lock_guard guard(m_lock);
    return m_resources;
}

ApiResponse RequestHandler::handle(std::string_view method, std::string_view path,
                                   std::string_view body) {
    std::lock_guard guard(m_lock);
    std::string endpoint = "unknown";
    auto result = route(method, path, body, endpoint);
    std::string lower_method(method);
    for (char& c : lower_method) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    m_metrics.count_request(lower_method + "_" + endpoint, !result.has_value());
    if (!result) {
        spdlog::warn("API: {} {}: refused: {}", method, path, result.error().message());
        return ApiResponse{400, fault_body(result.error().message())};
    }
    spdlog::debug("API: {} {}: {}", method, path, result->status);
    return std::move(*result);
}

Result<void> RequestHandler::require_not_started(std::string const& where) const {
    if (m_started)
        return refuse(fmt::format("{}: the guest has already started; this can only be set "
                                  "before InstanceStart", where));
    return {};
}

Result<void> RequestHandler::require_started(std::string const& where) const {
    if (!m_started)
        return refuse(fmt::format("{}: the guest has not started yet: PUT /actions "
                                  "{{\"action_type\": \"InstanceStart\"}} first", where));
    return {};
}

Result<void> RequestHandler::start() {
    std::lock_guard guard(m_lock);
    return start_locked();
}

Result<void> RequestHandler::start_locked() {
    if (m_started)
        return refuse("the guest has already started; it starts once");
    TRY(check_startable(m_resources));
    if (m_hooks.before) m_hooks.before();
    auto started = m_vmm.start(machine_config_for_start(m_resources));
    if (!started) {
        if (m_hooks.after_failure) m_hooks.after_failure();
        return started;  // the VMM's own error, for its exit status (--config-file)
    }
    m_started = true;
    return {};
}

Result<ApiResponse> RequestHandler::action(std::string_view body) {
    std::string const where = "PUT /actions";
    Json const json = TRY(parse_json(body, where));
    auto reader = TRY(ObjectReader::create(json, where));
    auto type = TRY(reader.choice("action_type", {"InstanceStart", "SendCtrlAltDel", "FlushMetrics"}));
    TRY(reader.finish());
    if (!type)
        return reader.refuse("action_type", "is required: \"InstanceStart\", \"SendCtrlAltDel\" "
                                            "or \"FlushMetrics\"");
    if (*type == "InstanceStart") {
        if (auto started = start_locked(); !started)
            return refuse(fmt::format("InstanceStart failed: {}", started.error().message()));
    } else if (*type == "SendCtrlAltDel") {
        TRY(require_started(where + " SendCtrlAltDel"));
        if (auto sent = m_vmm.send_ctrl_alt_del(); !sent)
            return refuse(fmt::format("SendCtrlAltDel failed: {}", sent.error().message()));
    } else {
        if (auto flushed = m_metrics.flush(); !flushed)
            return refuse(fmt::format("FlushMetrics: {}", flushed.error().message()));
    }
    return kNoContent;
}

Result<ApiResponse> RequestHandler::route(std::string_view method, std::string_view path,
                                          std::string_view body, std::string& endpoint) {
    auto const parts = split_path(path);
    std::string const where = fmt::format("{} {}", method, path);
    auto const body_json = [&]() -> Result<Json> { return parse_json(body, where); };
    bool const get = method == "GET", put = method == "PUT", patch = method == "PATCH";

    if (parts.empty()) {
        endpoint = "instance_info";
        if (!get) return wrong_method(method, "/", "GET");
        return ok_json(Json{{"app_name", "wisp"},
                            {"id", m_resources.api.id},
                            {"state", vm_state_name(m_started ? m_vmm.state() : VmState::NotStarted)},
                            {"vmm_version", WISP_VERSION}});
    }
    std::string_view const head = parts[0];
    endpoint = std::string(head);
    for (char& c : endpoint) if (c == '-') c = '_';
    for (char const* name : kNotImplemented) {
        if (head == name)
            return refuse(fmt::format("{}: /{} is part of Firecracker's API but wisp does not "
                                      "implement it yet", where, head));
    }
    if (parts.size() == 1) {
        if (head == "version") {
            if (!get) return wrong_method(method, path, "GET");
            return ok_json(Json{{"firecracker_version", WISP_VERSION}});
        }
        if (head == "actions") {
            if (!put) return wrong_method(method, path, "PUT");
            return action(body);
        }
        if (head == "boot-source") {
            if (!put) return wrong_method(method, path, "PUT");
            TRY(require_not_started(where));
            Json const json = TRY(body_json());
            TRY(apply_boot_source(m_resources, json, where));
            return kNoContent;
        }
        if (head == "machine-config") {
            if (get) return ok_json(machine_config_json(m_resources));
            if (!put && !patch) return wrong_method(method, path, "GET, PUT and PATCH");
            TRY(require_not_started(where));
            VmResources updated = m_resources;  // all or nothing
            Json const json = TRY(body_json());
            TRY(apply_machine_config(updated, json, where, patch));
            m_resources = std::move(updated);
            return kNoContent;
        }
        if (head == "vsock") {
            if (!put) return wrong_method(method, path, "PUT");
            TRY(require_not_started(where));
            Json const json = TRY(body_json());
            TRY(apply_vsock(m_resources, json, where));
            return kNoContent;
        }
        if (head == "entropy") {
            if (!put) return wrong_method(method, path, "PUT");
            TRY(require_not_started(where));
            Json const json = TRY(body_json());
            TRY(apply_entropy(m_resources, json, where));
            return kNoContent;
        }
        if (head == "logger") {
            if (!put) return wrong_method(method, path, "PUT");
            Json const json = TRY(body_json());
            auto logger = TRY(parse_logger(json, where));
            if (auto configured = configure_logger(logger); !configured)
                return refuse(fmt::format("{}: {}", where, configured.error().message()));
            m_resources.api.logger = std::move(logger);
            return kNoContent;
        }
        if (head == "metrics") {
            if (!put) return wrong_method(method, path, "PUT");
            Json const json = TRY(body_json());
            auto metrics = TRY(parse_metrics(json, where));
            if (auto configured = m_metrics.configure(metrics); !configured)
                return refuse(fmt::format("{}: {}", where, configured.error().message()));
            m_resources.api.metrics = std::move(metrics);
            return kNoContent;
        }
        if (head == "vm") {
            if (!patch) return wrong_method(method, path, "PATCH");
            Json const json = TRY(body_json());
            auto reader = TRY(ObjectReader::create(json, where));
            auto state = TRY(reader.choice("state", {"Paused", "Resumed"}));
            TRY(reader.finish());
            if (!state) return reader.refuse("state", "is required: \"Paused\" or \"Resumed\"");
            TRY(require_started(where));
            auto changed = *state == "Paused" ? m_vmm.pause() : m_vmm.resume();
            if (!changed) return refuse(fmt::format("{}: {}", where, changed.error().message()));
            return kNoContent;
        }
    }
    if (parts.size() == 2 && head == "vm" && parts[1] == "config") {
        endpoint = "vm_config";
        if (!get) return wrong_method(method, path, "GET");
        return ok_json(vm_config_json(m_resources));
    }
    if (parts.size() == 2 && (head == "drives" || head == "network-interfaces")) {
        std::string const id(parts[1]);
        if (head == "drives") {
            if (put) {
                TRY(require_not_started(where));
                Json const json = TRY(body_json());
                TRY(apply_drive(m_resources, json, where, id));
                return kNoContent;
            }
            if (patch) {
                auto const json = TRY(body_json());
                if (!m_started)
                    return refuse(fmt::format("{}: PATCH changes a drive of a running guest; "
                                              "before InstanceStart use PUT /drives/{}", where, id));
                auto new_path = TRY(parse_drive_update(m_resources, json, where, id));
                if (auto updated = m_vmm.update_drive(id, new_path); !updated)
                    return refuse(fmt::format("{}: {}", where, updated.error().message()));
                auto const index = static_cast<size_t>(
                    std::ranges::find(m_resources.api.drives, id, &DriveSettings::drive_id) -
                    m_resources.api.drives.begin());
                m_resources.config.disks[index].path = new_path;
                return kNoContent;
            }
            return wrong_method(method, path, "PUT and PATCH");
        }
        if (put) {
            TRY(require_not_started(where));
            Json const json = TRY(body_json());
            TRY(apply_network_interface(m_resources, json, where, id));
            return kNoContent;
        }
        if (patch)
            return refuse(fmt::format("{}: PATCH /network-interfaces changes rate limiters, which "
                                      "wisp does not implement yet", where));
        return wrong_method(method, path, "PUT and PATCH");
    }
    endpoint = "unknown";
    return refuse(fmt::format("{}: no such endpoint; wisp serves Firecracker's API: GET /, "
                              "GET /version, PUT /boot-source, /machine-config, /drives/ID, "
                              "/network-interfaces/ID, /vsock, /logger, /metrics, /entropy, "
                              "/actions, PATCH /vm, GET /vm/config", where));
}

}  // namespace vmm::api

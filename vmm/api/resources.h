// SPDX-License-Identifier: Apache-2.0
// VmResources: what the API and the config file configure before InstanceStart. The machine
// itself is the one MachineConfig model (vmm/machine_config.h) that `wisp run` fills too;
// ApiResources keeps what only the control plane knows (Firecracker's ids, the logger, the
// metrics, settings wisp stores but does not act on yet).
//
// Every apply_* takes one Firecracker JSON object (snake_case fields, as in the swagger spec),
// refuses anything it cannot honour with a message meant for the API client (fault_message),
// and changes nothing when it refuses.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "vmm/api/json_body.h"
#include "vmm/machine_config.h"

namespace vmm::api {

/// A drive's Firecracker fields beyond DiskConfig; drives[i] describes config.disks[i].
struct DriveSettings {
    std::string drive_id;  // DiskConfig::id holds its first 20 bytes (the virtio-blk serial)
    bool is_root_device = false;
    std::optional<std::string> partuuid;
    std::string cache_type = "Unsafe";  // stored: wisp flushes when the guest asks
    std::string io_engine = "Sync";     // "Async" is DiskEngine::IoUring
};

struct LoggerSettings {
    std::optional<std::string> log_path;
    std::string level = "Info";
    bool show_level = false;
    bool show_log_origin = false;
    std::optional<std::string> module;
};

struct MetricsSettings {
    std::string metrics_path;
    bool emit_id = false;
    std::map<std::string, std::string> properties;
};

struct VsockSettings {  // stored until wisp has a vsock device
    uint32_t guest_cid = 0;
    std::string uds_path;
    std::optional<std::string> vsock_id;
};

struct ApiResources {
    std::string id = "anonymous-instance";  // Firecracker's default instance id
    bool boot_source_set = false;
    std::optional<std::string> boot_args;  // as given; root= is added at start
    bool smt = false;
    bool track_dirty_pages = false;  // stored: no snapshots yet
    std::string huge_pages = "None";
    std::vector<DriveSettings> drives;     // parallel to MachineConfig::disks
    std::vector<std::string> iface_ids;    // parallel to MachineConfig::nets
    bool entropy = false;
    std::optional<LoggerSettings> logger;
    std::optional<MetricsSettings> metrics;
    std::optional<VsockSettings> vsock;
};

struct VmResources {
    MachineConfig config;
    ApiResources api;
};

/// The largest guest RAM the API accepts, in MiB (boot/x86_64/layout.h's kMaxMemory).
inline constexpr uint64_t kMaxMemMib = 1ull << 20;
inline constexpr uint64_t kMinMemMib = 4;

Result<void> apply_boot_source(VmResources& resources, Json const& body, std::string const& where);
/// PUT replaces the whole machine configuration (vcpu_count and mem_size_mib required);
/// PATCH (`partial`) changes only the fields given.
Result<void> apply_machine_config(VmResources& resources, Json const& body,
                                  std::string const& where, bool partial);
/// PUT /drives/{id}: adds the drive or replaces the one with that id. `path_id` is the id in
/// the URL (must equal drive_id); the config file passes nullopt.
Result<void> apply_drive(VmResources& resources, Json const& body, std::string const& where,
                         std::optional<std::string> const& path_id);
/// PATCH /drives/{id} after start: the new path_on_host (checked to exist).
Result<std::string> parse_drive_update(VmResources const& resources, Json const& body,
                                       std::string const& where, std::string const& path_id);
Result<void> apply_network_interface(VmResources& resources, Json const& body,
                                     std::string const& where,
                                     std::optional<std::string> const& path_id);
Result<void> apply_vsock(VmResources& resources, Json const& body, std::string const& where);
Result<LoggerSettings> parse_logger(Json const& body, std::string const& where);
Result<MetricsSettings> parse_metrics(Json const& body, std::string const& where);
Result<void> apply_entropy(VmResources& resources, Json const& body, std::string const& where);

/// `--config-file`: Firecracker's VmmConfig (kebab-case sections; boot-source and drives are
/// required, drives may be []). `name` is the file's name for messages.
Result<VmResources> parse_config_file(std::string_view text, std::string const& name);

/// Refuses an InstanceStart that cannot work (no boot source yet).
Result<void> check_startable(VmResources const& resources);

/// The MachineConfig to start: the root drive first (vda), root=/dev/vda (or PARTUUID) added
/// to the command line.
MachineConfig machine_config_for_start(VmResources const& resources);

/// GET /machine-config.
Json machine_config_json(VmResources const& resources);
/// GET /vm/config: everything, in config-file form (parse_config_file reads it back).
Json vm_config_json(VmResources const& resources);

/// "06:00:AC:10:00:02" -> bytes.
std::optional<std::array<uint8_t, 6>> parse_mac(std::string_view text);

}  // namespace vmm::api

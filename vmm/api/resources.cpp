// SPDX-License-Identifier: Apache-2.0
// Firecracker's JSON objects -> VmResources, and back.
#include "vmm/api/resources.h"

#include <sys/stat.h>

#include <algorithm>
#include <charconv>

#include <fmt/format.h>

namespace vmm::api {
namespace {

constexpr size_t kIfNameMax = 15;  // IFNAMSIZ - 1

/// A file the VMM will open: it must exist now, so the client hears about a typo at once.
Result<void> check_file(ObjectReader const& reader, std::string const& field,
                        std::string const& path) {
    if (path.empty()) return reader.refuse(field, "is empty: give the path of a file on the host");
    struct stat info {};
    if (::stat(path.c_str(), &info) != 0)
        return reader.refuse(field, fmt::format("names '{}', which does not exist on the host: "
                                                "give the path of an existing file", path));
    if (S_ISDIR(info.st_mode))
        return reader.refuse(field, fmt::format("names '{}', which is a directory: give the path "
                                                "of a file", path));
    return {};
}

/// Rate limiters are part of the spec but not of wisp yet: refuse them rather than ignore them.
Result<void> refuse_rate_limiter(ObjectReader& reader, std::string const& field) {
    if (reader.take(field))
        return reader.refuse(field, "is not supported by wisp yet (no I/O rate limiting); "
                                    "remove it");
    return {};
}

}  // namespace

std::optional<std::array<uint8_t, 6>> parse_mac(std::string_view text) {
    if (text.size() != 17) return std::nullopt;
    std::array<uint8_t, 6> mac{};
    for (size_t i = 0; i < 6; ++i) {
        if (i > 0 && text[i * 3 - 1] != ':') return std::nullopt;
        char const* first = text.data() + i * 3;
        auto [end, error] = std::from_chars(first, first + 2, mac[i], 16);
        if (error != std::errc() || end != first + 2) return std::nullopt;
    }
    return mac;
}

Result<void> apply_boot_source(VmResources& resources, Json const& body, std::string const& where) {
    auto reader = TRY(ObjectReader::create(body, where));
    auto kernel = TRY(reader.required_string("kernel_image_path"));
    auto boot_args = TRY(reader.string("boot_args"));
    auto initrd = TRY(reader.string("initrd_path"));
    TRY(reader.finish());
    TRY(check_file(reader, "kernel_image_path", kernel));
    if (initrd) TRY(check_file(reader, "initrd_path", *initrd));
    if (boot_args && boot_args->size() > 2047)
        return reader.refuse("boot_args", fmt::format("is {} bytes; the limit is 2047",
                                                      boot_args->size()));
    resources.config.kernel = kernel;
    resources.config.initrd = initrd;
    resources.config.cmdline =
        boot_args ? *boot_args : MachineConfig::default_cmdline(resources.config.console.kind);
    resources.api.boot_args = boot_args;
    resources.api.boot_source_set = true;
    return {};
}

Result<void> apply_machine_config(VmResources& resources, Json const& body,
                                  std::string const& where, bool partial) {
    auto reader = TRY(ObjectReader::create(body, where));
    auto vcpus = TRY(reader.integer("vcpu_count", 1, MachineConfig::kMaxVcpus));
    auto mem = TRY(reader.integer("mem_size_mib", kMinMemMib, kMaxMemMib));
    auto smt = TRY(reader.boolean("smt"));
    auto dirty = TRY(reader.boolean("track_dirty_pages"));
    auto huge = TRY(reader.choice("huge_pages", {"None", "Transparent", "2M"}));
    auto templ = TRY(reader.choice("cpu_template",
                                   {"C3", "T2", "T2S", "T2CL", "T2A", "V1N1", "None"}));
    TRY(reader.finish());
    if (!partial && !vcpus) return reader.refuse("vcpu_count", "is required (an integer from 1 "
                                                 "to " + std::to_string(MachineConfig::kMaxVcpus) + ")");
    if (!partial && !mem)
        return reader.refuse("mem_size_mib", fmt::format("is required (an integer from {} to {})",
                                                         kMinMemMib, kMaxMemMib));
    if (smt && *smt)
        return reader.refuse("smt", "true is not supported: wisp gives each vCPU a core of its "
                                    "own; set it to false or leave it out");
    if (huge && *huge != "None")
        return reader.refuse("huge_pages", fmt::format("\"{}\" is not supported yet: use \"None\" "
                                                       "(regular 4 KiB pages) or leave it out",
                                                       *huge));
    if (templ && *templ != "None")
        return reader.refuse("cpu_template", fmt::format("\"{}\" is not supported: wisp has no "
                                                         "CPU templates; use \"None\" or leave "
                                                         "it out", *templ));
    if (!partial) {  // PUT: what is not given goes back to its default
        resources.api.smt = false;
        resources.api.track_dirty_pages = false;
        resources.api.huge_pages = "None";
    }
    if (vcpus) resources.config.vcpus = static_cast<uint32_t>(*vcpus);
    if (mem) resources.config.memory = *mem << 20;
    if (dirty) resources.api.track_dirty_pages = *dirty;
    return {};
}

Result<void> apply_drive(VmResources& resources, Json const& body, std::string const& where,
                         std::optional<std::string> const& path_id) {
    auto reader = TRY(ObjectReader::create(body, where));
    DriveSettings drive;
    drive.drive_id = TRY(reader.required_string("drive_id"));
    drive.is_root_device = TRY(reader.required_boolean("is_root_device"));
    drive.partuuid = TRY(reader.string("partuuid"));
    drive.cache_type = TRY(reader.choice("cache_type", {"Unsafe", "Writeback"})).value_or("Unsafe");
    bool const read_only = TRY(reader.boolean("is_read_only")).value_or(false);
    auto path = TRY(reader.string("path_on_host"));
    drive.io_engine = TRY(reader.choice("io_engine", {"Sync", "Async"})).value_or("Sync");
    TRY(refuse_rate_limiter(reader, "rate_limiter"));
    if (reader.take("socket"))
        return reader.refuse("socket", "(vhost-user-block) is not supported by wisp: give "
                                       "path_on_host instead");
    TRY(reader.finish());
    if (drive.drive_id.empty()) return reader.refuse("drive_id", "is empty: give the drive a name");
    if (path_id && *path_id != drive.drive_id)
        return reader.refuse("drive_id", fmt::format("is '{}' but the path says '{}': they must "
                                                     "be the same", drive.drive_id, *path_id));
    if (!path) return reader.refuse("path_on_host", "is required (the drive's file on the host)");
    TRY(check_file(reader, "path_on_host", *path));
    auto& drives = resources.api.drives;
    auto const existing = std::ranges::find(drives, drive.drive_id, &DriveSettings::drive_id);
    if (drive.is_root_device) {
        for (auto const& other : drives) {
            if (other.is_root_device && other.drive_id != drive.drive_id)
                return reader.refuse("is_root_device",
                                     fmt::format("is true but drive '{}' is already the root "
                                                 "device: only one drive can be; set it to false "
                                                 "or change '{}' first",
                                                 other.drive_id, other.drive_id));
        }
    }
    DiskConfig disk{.path = *path, .read_only = read_only,
                    .id = drive.drive_id.substr(0, DiskConfig::kIdBytes),
                    .engine = drive.io_engine == "Async" ? DiskEngine::IoUring : DiskEngine::Sync};
    if (existing != drives.end()) {
        auto const index = static_cast<size_t>(existing - drives.begin());
        *existing = std::move(drive);
        resources.config.disks[index] = std::move(disk);
    } else {
        drives.push_back(std::move(drive));
        resources.config.disks.push_back(std::move(disk));
    }
    return {};
}

Result<std::string> parse_drive_update(VmResources const& resources, Json const& body,
                                       std::string const& where, std::string const& path_id) {
    auto reader = TRY(ObjectReader::create(body, where));
    auto id = TRY(reader.required_string("drive_id"));
    auto path = TRY(reader.string("path_on_host"));
    TRY(refuse_rate_limiter(reader, "rate_limiter"));
    TRY(reader.finish());
    if (id != path_id)
        return reader.refuse("drive_id", fmt::format("is '{}' but the path says '{}': they must "
                                                     "be the same", id, path_id));
    if (std::ranges::find(resources.api.drives, id, &DriveSettings::drive_id) ==
        resources.api.drives.end())
        return fail(ErrorKind::Usage, fmt::format("{}: there is no drive '{}': PUT /drives/{} "
                                                  "before InstanceStart to add it", where, id, id));
    if (!path) return reader.refuse("path_on_host", "is required: the new file for the drive");
    TRY(check_file(reader, "path_on_host", *path));
    return *path;
}

Result<void> apply_network_interface(VmResources& resources, Json const& body,
                                     std::string const& where,
                                     std::optional<std::string> const& path_id) {
    auto reader = TRY(ObjectReader::create(body, where));
    auto id = TRY(reader.required_string("iface_id"));
    auto tap = TRY(reader.required_string("host_dev_name"));
    auto mac_text = TRY(reader.string("guest_mac"));
    auto mtu = TRY(reader.integer("mtu", 68, 65535));
    TRY(refuse_rate_limiter(reader, "rx_rate_limiter"));
    TRY(refuse_rate_limiter(reader, "tx_rate_limiter"));
    TRY(reader.finish());
    if (id.empty()) return reader.refuse("iface_id", "is empty: give the interface a name");
    if (path_id && *path_id != id)
        return reader.refuse("iface_id", fmt::format("is '{}' but the path says '{}': they must "
                                                     "be the same", id, *path_id));
    if (tap.empty() || tap.size() > kIfNameMax)
        return reader.refuse("host_dev_name", fmt::format("'{}' is not a tap interface name: "
                                                          "give 1 to {} characters", tap,
                                                          kIfNameMax));
    NetConfig net{.kind = NetKind::Tap, .tap = tap};
    if (mac_text) {
        net.mac = parse_mac(*mac_text);
        if (!net.mac)
            return reader.refuse("guest_mac", fmt::format("'{}' is not a MAC address: write six "
                                                          "hex pairs like 06:00:AC:10:00:02",
                                                          *mac_text));
    }
    if (mtu) net.mtu = static_cast<uint16_t>(*mtu);
    auto& ids = resources.api.iface_ids;
    auto const existing = std::ranges::find(ids, id);
    if (existing != ids.end()) {
        resources.config.nets[static_cast<size_t>(existing - ids.begin())] = std::move(net);
    } else {
        ids.push_back(id);
        resources.config.nets.push_back(std::move(net));
    }
    return {};
}

Result<void> apply_vsock(VmResources& resources, Json const& body, std::string const& where) {
    auto reader = TRY(ObjectReader::create(body, where));
    VsockSettings vsock;
    vsock.guest_cid = static_cast<uint32_t>(TRY(reader.required_integer("guest_cid", 3, UINT32_MAX)));
    vsock.uds_path = TRY(reader.required_string("uds_path"));
    vsock.vsock_id = TRY(reader.string("vsock_id"));
    TRY(reader.finish());
    if (vsock.uds_path.empty()) return reader.refuse("uds_path", "is empty: give a socket path");
    resources.api.vsock = std::move(vsock);
    return {};
}

Result<LoggerSettings> parse_logger(Json const& body, std::string const& where) {
    auto reader = TRY(ObjectReader::create(body, where));
    LoggerSettings logger;
    logger.log_path = TRY(reader.string("log_path"));
    logger.level = TRY(reader.choice("level", {"Error", "Warning", "Info", "Debug", "Trace", "Off"},
                                     true))
                       .value_or("Info");
    logger.show_level = TRY(reader.boolean("show_level")).value_or(false);
    logger.show_log_origin = TRY(reader.boolean("show_log_origin")).value_or(false);
    logger.module = TRY(reader.string("module"));
    TRY(reader.finish());
    if (logger.log_path && logger.log_path->empty())
        return reader.refuse("log_path", "is empty: give a file or named pipe, or leave it out "
                                         "(the log then goes to stderr)");
    return logger;
}

Result<MetricsSettings> parse_metrics(Json const& body, std::string const& where) {
    auto reader = TRY(ObjectReader::create(body, where));
    MetricsSettings metrics;
    metrics.metrics_path = TRY(reader.required_string("metrics_path"));
    metrics.emit_id = TRY(reader.boolean("emit_id")).value_or(false);
    metrics.properties = TRY(reader.string_map("properties")).value_or(std::map<std::string, std::string>{});
    TRY(reader.finish());
    if (metrics.metrics_path.empty())
        return reader.refuse("metrics_path", "is empty: give a file or named pipe");
    return metrics;
}

Result<void> apply_entropy(VmResources& resources, Json const& body, std::string const& where) {
    auto reader = TRY(ObjectReader::create(body, where));
    TRY(refuse_rate_limiter(reader, "rate_limiter"));
    TRY(reader.finish());
    resources.api.entropy = true;
    resources.config.rng = true;
    return {};
}

Result<void> check_startable(VmResources const& resources) {
    if (!resources.api.boot_source_set)
        return fail(ErrorKind::Usage, "no kernel is configured: PUT /boot-source "
                                      "with kernel_image_path first");
    return {};
}

MachineConfig machine_config_for_start(VmResources const& resources) {
    MachineConfig config = resources.config;
    auto const& drives = resources.api.drives;
    auto const root = std::ranges::find_if(drives, &DriveSettings::is_root_device);
    if (root != drives.end()) {
        auto const index = static_cast<size_t>(root - drives.begin());
        // Firecracker's order: the root device is vda, the others follow as they were added.
        std::rotate(config.disks.begin(), config.disks.begin() + static_cast<ptrdiff_t>(index),
                    config.disks.begin() + static_cast<ptrdiff_t>(index) + 1);
        std::string const device =
            root->partuuid ? "PARTUUID=" + *root->partuuid : std::string("/dev/vda");
        config.cmdline += fmt::format(" root={} {}", device,
                                      config.disks.front().read_only ? "ro" : "rw");
    }
    return config;
}

Json machine_config_json(VmResources const& resources) {
    return Json{{"vcpu_count", resources.config.vcpus},
                {"mem_size_mib", resources.config.memory >> 20},
                {"smt", resources.api.smt},
                {"track_dirty_pages", resources.api.track_dirty_pages},
                {"huge_pages", resources.api.huge_pages}};
}

Json vm_config_json(VmResources const& resources) {
    auto const& config = resources.config;
    auto const& api = resources.api;
    Json out = Json::object();
    if (api.boot_source_set) {
        Json boot{{"kernel_image_path", config.kernel}, {"boot_args", config.cmdline}};
        if (config.initrd) boot["initrd_path"] = *config.initrd;
        out["boot-source"] = std::move(boot);
    }
    Json drives = Json::array();
    for (size_t i = 0; i < api.drives.size(); ++i) {
        auto const& drive = api.drives[i];
        Json item{{"drive_id", drive.drive_id},
                  {"is_root_device", drive.is_root_device},
                  {"cache_type", drive.cache_type},
                  {"is_read_only", config.disks[i].read_only},
                  {"path_on_host", config.disks[i].path},
                  {"io_engine", drive.io_engine}};
        if (drive.partuuid) item["partuuid"] = *drive.partuuid;
        drives.push_back(std::move(item));
    }
    out["drives"] = std::move(drives);
    out["machine-config"] = machine_config_json(resources);
    Json nets = Json::array();
    for (size_t i = 0; i < api.iface_ids.size(); ++i) {
        auto const& net = config.nets[i];
        Json item{{"iface_id", api.iface_ids[i]}, {"host_dev_name", net.tap}};
        if (net.mac)
            item["guest_mac"] = fmt::format("{:02x}:{:02x}:{:02x}:{:02x}:{:02x}:{:02x}", (*net.mac)[0],
                                            (*net.mac)[1], (*net.mac)[2], (*net.mac)[3],
                                            (*net.mac)[4], (*net.mac)[5]);
        if (net.mtu != 0) item["mtu"] = net.mtu;
        nets.push_back(std::move(item));
    }
    out["network-interfaces"] = std::move(nets);
    if (api.vsock) {
        Json vsock{{"guest_cid", api.vsock->guest_cid}, {"uds_path", api.vsock->uds_path}};
        if (api.vsock->vsock_id) vsock["vsock_id"] = *api.vsock->vsock_id;
        out["vsock"] = std::move(vsock);
    }
    if (api.logger) {
        Json logger{{"level", api.logger->level},
                    {"show_level", api.logger->show_level},
                    {"show_log_origin", api.logger->show_log_origin}};
        if (api.logger->log_path) logger["log_path"] = *api.logger->log_path;
        if (api.logger->module) logger["module"] = *api.logger->module;
        out["logger"] = std::move(logger);
    }
    if (api.metrics) {
        Json metrics{{"metrics_path", api.metrics->metrics_path}, {"emit_id", api.metrics->emit_id}};
        if (!api.metrics->properties.empty()) metrics["properties"] = api.metrics->properties;
        out["metrics"] = std::move(metrics);
    }
    if (api.entropy) out["entropy"] = Json::object();
    return out;
}

Result<VmResources> parse_config_file(std::string_view text, std::string const& name) {
    Json const document = TRY(parse_json(text, name));
    auto reader = TRY(ObjectReader::create(document, name));
    VmResources resources;
    auto section = [&](char const* key) { return fmt::format("{}: {}", name, key); };

    Json const* boot = reader.take("boot-source");
    if (!boot)
        return fail(ErrorKind::Usage, fmt::format("{}: \"boot-source\" is required: add "
                                                  "{{\"kernel_image_path\": ...}}", name));
    TRY(apply_boot_source(resources, *boot, section("boot-source")));
    if (Json const* machine = reader.take("machine-config"))
        TRY(apply_machine_config(resources, *machine, section("machine-config"), false));
    Json const* drives = reader.take("drives");
    if (!drives)
        return fail(ErrorKind::Usage, fmt::format("{}: \"drives\" is required (an array; [] "
                                                  "for none)", name));
    if (!drives->is_array())
        return fail(ErrorKind::Usage, fmt::format("{}: \"drives\" must be an array, got {}", name,
                                                  json_type_name(*drives)));
    for (size_t i = 0; i < drives->size(); ++i) {
        std::string const where = fmt::format("{}: drives[{}]", name, i);
        auto const& item = (*drives)[i];
        if (item.is_object()) {
            auto id = item.find("drive_id");
            if (id != item.end() && id->is_string() &&
                std::ranges::find(resources.api.drives, id->get<std::string>(),
                                  &DriveSettings::drive_id) != resources.api.drives.end())
                return fail(ErrorKind::Usage, fmt::format("{}: drive_id '{}' is used twice: give "
                                                          "each drive its own id", where,
                                                          id->get<std::string>()));
        }
        TRY(apply_drive(resources, item, where, std::nullopt));
    }
    if (Json const* nets = reader.take("network-interfaces")) {
        if (!nets->is_array())
            return fail(ErrorKind::Usage, fmt::format("{}: \"network-interfaces\" must be an "
                                                      "array, got {}", name,
                                                      json_type_name(*nets)));
        for (size_t i = 0; i < nets->size(); ++i)
            TRY(apply_network_interface(resources, (*nets)[i],
                                        fmt::format("{}: network-interfaces[{}]", name, i),
                                        std::nullopt));
    }
    if (Json const* vsock = reader.take("vsock")) TRY(apply_vsock(resources, *vsock, section("vsock")));
    if (Json const* logger = reader.take("logger"))
        resources.api.logger = TRY(parse_logger(*logger, section("logger")));
    if (Json const* metrics = reader.take("metrics"))
        resources.api.metrics = TRY(parse_metrics(*metrics, section("metrics")));
    if (Json const* entropy = reader.take("entropy"))
        TRY(apply_entropy(resources, *entropy, section("entropy")));
    for (char const* key : {"cpu-config", "balloon", "mmds-config", "pmem", "memory-hotplug"}) {
        if (reader.take(key))
            return fail(ErrorKind::Usage, fmt::format("{}: \"{}\" is not implemented in wisp yet: "
                                                      "remove it", name, key));
    }
    TRY(reader.finish());
    return resources;
}

}  // namespace vmm::api

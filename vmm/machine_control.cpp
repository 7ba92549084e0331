// SPDX-License-Identifier: Apache-2.0
// What a control plane does to a running machine (VmmHost forwards each call to the event-loop
// thread): pause and resume, Ctrl-Alt-Del, drive updates, and the metrics.
#include <chrono>
#include <map>

#include <nlohmann/json.hpp>
#include <spdlog/spdlog.h>

#include "devices/legacy/i8042.h"
#include "devices/virtio/block/block_device.h"
#include "devices/virtio/block/counting_backend.h"
#include "devices/virtio/block/disk_image.h"
#include "devices/virtio/block/sync_backend.h"
#include "devices/virtio/mmio_transport.h"
#include "vmm/machine.h"
#include "vmm/metrics.h"

namespace vmm {

Result<void> Machine::pause() {
    // vCPUs first: once they are parked no guest access can start device work, and then the
    // loop stops serving what is left (queue notifications already signalled stay pending in
    // their eventfds, level-triggered, and are served after resume).
    for (auto& vcpu : m_vcpus) vcpu->request_pause();
    for (auto& vcpu : m_vcpus) vcpu->wait_parked();
    if (auto paused = m_loop->set_paused(true); !paused) {
        (void)m_loop->set_paused(false);
        for (auto& vcpu : m_vcpus) vcpu->resume();
        return paused;
    }
    m_paused = true;
    spdlog::info("VM paused");
    return {};
}

Result<void> Machine::resume() {
    auto const resumed = m_loop->set_paused(false);
    for (auto& vcpu : m_vcpus) vcpu->resume();
    m_paused = false;
    spdlog::info("VM resumed");
    return resumed;
}

Result<void> Machine::send_ctrl_alt_del() {
    if (!m_keyboard) return fail(ErrorKind::Host, "this machine has no i8042 keyboard");
    TRY(m_keyboard->press_ctrl_alt_del());
    spdlog::info("Ctrl-Alt-Del sent to the guest's keyboard");
    return {};
}

Result<void> Machine::update_drive(std::string const& drive_id, std::string const& path) {
    MachineVirtio* drive = nullptr;
    std::string known;
    for (MachineVirtio& device : m_virtio) {
        if (!device.block) continue;
        std::string const& id = m_config.disks.at(device.disk).id;
        if (id == drive_id) drive = &device;
        known += fmt::format("{}'{}'", known.empty() ? "" : ", ", id);
    }
    if (drive == nullptr)
        return fail(ErrorKind::Usage,
                    fmt::format("no drive with id '{}' in this VM (its drives: {}): name one of "
                                "them",
                                drive_id, known.empty() ? "none" : known));
    DiskConfig& disk = m_config.disks.at(drive->disk);
    auto image = devices::virtio::open_disk_image(path, disk.read_only);
    if (!image) {
        devices::virtio::BlockCounters::add(drive->block_counters->update_fails);
        return std::unexpected(image.error());
    }
    auto block = drive->block;
    bool const resized = drive->transport->change_config([&](devices::virtio::VirtioDevice&) {
        return block->replace_image(std::move(*image), path);
    });
    disk.path = path;
    devices::virtio::BlockCounters::add(drive->block_counters->update_count);
    spdlog::info("drive '{}' now uses '{}' ({} sectors{})", drive_id, path, block->capacity(),
                 resized ? ", a new size announced to the guest" : "");
    return {};
}

namespace {
using nlohmann::json;

uint64_t get(std::atomic<uint64_t> const& counter) {
    return counter.load(std::memory_order_relaxed);
}

json transport_metrics(devices::virtio::TransportCounters const& c) {
    return {{"queue_event_count", get(c.notifications)},
            {"interrupt_count", get(c.interrupts)},
            {"config_change_count", get(c.config_changes)},
            {"used_buffer_count", get(c.used_buffers)}};
}

void add_block(json& out, devices::virtio::BlockCounters const& c) {
    auto add = [&out](char const* key, uint64_t value) {
        out[key] = out.value(key, uint64_t{0}) + value;
    };
    add("read_count", get(c.read_count));
    add("read_bytes", get(c.read_bytes));
    add("write_count", get(c.write_count));
    add("write_bytes", get(c.write_bytes));
    add("flush_count", get(c.flush_count));
    add("discard_count", get(c.discard_count));
    add("write_zeroes_count", get(c.write_zeroes_count));
    add("execute_fails", get(c.io_errors));
    add("update_count", get(c.update_count));
    add("update_fails", get(c.update_fails));
}

void add_all(json& total, json const& part) {
    for (auto const& [key, value] : part.items())
        total[key] = total.value(key, uint64_t{0}) + value.get<uint64_t>();
}
}  // namespace

std::string metrics_json(MetricsSources const& sources) {
    json out = json::object();
    out["utc_timestamp_ms"] = std::chrono::duration_cast<std::chrono::milliseconds>(
                                  std::chrono::system_clock::now().time_since_epoch())
                                  .count();
    // vCPU exits, summed over the vCPUs (each counts on its own cache line).
    std::map<std::string, uint64_t> vcpu;
    for (VcpuExitCounters const* counters : sources.vcpus) {
        VcpuExitCounters const& c = *counters;
        vcpu["exit_io_in"] += get(c.io_in);
        vcpu["exit_io_out"] += get(c.io_out);
        vcpu["exit_mmio_read"] += get(c.mmio_read);
        vcpu["exit_mmio_write"] += get(c.mmio_write);
        vcpu["exit_hlt"] += get(c.hlt);
        vcpu["exit_shutdown"] += get(c.shutdown);
        vcpu["exit_system_event"] += get(c.system_event);
        vcpu["exit_fail_entry"] += get(c.fail_entry);
        vcpu["exit_internal_error"] += get(c.internal_error);
        vcpu["exit_interrupted"] += get(c.interrupted);
        vcpu["exit_unknown"] += get(c.unknown);
        vcpu["failures"] += get(c.failures);
        vcpu["pause_count"] += get(c.pauses);
    }
    out["vcpu"] = vcpu;
    if (sources.serial)
        out["uart"] = {{"write_count", sources.serial->bytes_transmitted()},
                       {"read_count", sources.serial->bytes_received()}};
    // Per device: "block" sums the drives and "block_<drive id>" is each one (as Firecracker);
    // the other kinds are keyed by kind ("entropy" for rng, as Firecracker), with _<n> from
    // the second device of a kind on.
    std::map<std::string, int> seen;
    for (MachineVirtio const& device : sources.virtio) {
        json entry = transport_metrics(device.transport->counters());
        if (device.block_counters) {
            add_block(entry, *device.block_counters);
            std::string const id =
                device.disk < sources.disks.size() ? sources.disks[device.disk].id : "";
            if (!out.contains("block")) out["block"] = json::object();
            add_all(out["block"], entry);
            out["block_" + (id.empty() ? fmt::format("{}", device.disk) : id)] = entry;
            continue;
        }
        std::string key = device.kind == "rng" ? "entropy" : device.kind;
        if (int const n = seen[key]++; n > 0) key += fmt::format("_{}", n);
        out[key] = entry;
    }
    return out.dump();
}

std::string Machine::metrics_json() const {
    MetricsSources sources{.serial = m_serial.get(), .virtio = m_virtio, .disks = m_config.disks};
    for (auto const& vcpu : m_vcpus) sources.vcpus.push_back(&vcpu->counters());
    return vmm::metrics_json(sources);
}

}  // namespace vmm

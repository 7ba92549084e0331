// SPDX-License-Identifier: Apache-2.0
// The metrics JSON: its shape (Firecracker's keys where they map) and that each value is the
// counter behind it.
#include <catch2/catch.hpp>

#include <nlohmann/json.hpp>

#include <array>
#include <memory>

#include "devices/virtio/block/counting_backend.h"
#include "devices/virtio/mmio_transport.h"
#include "devices/virtio/rng/rng_device.h"
#include "vmm/base/size.h"
#include "vmm/metrics.h"

namespace {

using namespace vmm;
using nlohmann::json;

struct NoIrq final : IrqLine {
    void trigger() override {}
};

GuestMemory make_memory() {
    std::array<GuestMemory::RegionSpec, 1> const layout{{{GuestAddress{0}, 1_MiB}}};
    auto memory = GuestMemory::create(layout);
    REQUIRE(memory.has_value());
    return std::move(*memory);
}

/// A backend whose reads succeed and whose writes fail, to see both counted.
class HalfBackend final : public devices::virtio::BlockBackend {
public:
    uint64_t size() const override { return 1_MiB; }
    Result<void, int> read(uint64_t, std::span<iovec const>) override { return {}; }
    Result<void, int> write(uint64_t, std::span<iovec const>) override {
        return std::unexpected(EIO);
    }
    Result<void, int> flush() override { return {}; }
    Result<void, int> discard(uint64_t, uint64_t) override { return {}; }
    Result<void, int> write_zeroes(uint64_t, uint64_t, bool) override { return {}; }
};

}  // namespace

TEST_CASE("Metrics JSON: vCPU exits summed over vCPUs, uart, block per drive and in all, "
          "entropy",
          "[metrics]") {
    GuestMemory memory = make_memory();
    auto irq = std::make_shared<NoIrq>();
    auto rng = std::make_shared<devices::virtio::MmioTransport>(
        std::make_shared<devices::virtio::RngDevice>(), memory, irq);
    auto disk0 = std::make_shared<devices::virtio::MmioTransport>(
        std::make_shared<devices::virtio::RngDevice>(), memory, irq);
    auto disk1 = std::make_shared<devices::virtio::MmioTransport>(
        std::make_shared<devices::virtio::RngDevice>(), memory, irq);
    auto counters0 = std::make_shared<devices::virtio::BlockCounters>();
    auto counters1 = std::make_shared<devices::virtio::BlockCounters>();
    // I/O through the counting backend: two reads of 4 KiB + 512 bytes, a failed write.
    devices::virtio::CountingBackend backend(std::make_unique<HalfBackend>(), counters0);
    std::array<uint8_t, 4096> buffer{};
    std::array<iovec, 2> iov{iovec{buffer.data(), 4096}, iovec{buffer.data(), 512}};
    REQUIRE(backend.read(0, iov));
    REQUIRE(backend.read(0, std::span(iov).first(1)));
    REQUIRE_FALSE(backend.write(0, iov));
    REQUIRE(backend.flush());
    counters1->write_count = 7;
    counters1->write_bytes = 7 * 512;

    std::vector<MachineVirtio> const virtio{
        {"block", disk0, nullptr, counters0, 0},
        {"block", disk1, nullptr, counters1, 1},
        {"rng", rng, nullptr, nullptr, 0},
    };
    std::vector<DiskConfig> const disks{{.path = "a.img", .id = "rootfs"}, {.path = "b.img"}};

    VcpuExitCounters vcpu0, vcpu1;
    vcpu0.io_in = 3;
    vcpu1.io_in = 4;
    vcpu1.mmio_write = 5;
    vcpu0.hlt = 1;

    NoIrq serial_irq;
    devices::Serial8250 serial(serial_irq, nullptr);
    for (uint8_t byte : {'o', 'k', '\n'}) serial.write(0, std::span<uint8_t const>(&byte, 1));

    auto const text = metrics_json({.vcpus = {&vcpu0, &vcpu1},
                                    .serial = &serial,
                                    .virtio = virtio,
                                    .disks = disks});
    json const m = json::parse(text);
    REQUIRE(m.is_object());
    CHECK(m["utc_timestamp_ms"].get<int64_t>() > 0);
    CHECK(m["vcpu"]["exit_io_in"] == 7);
    CHECK(m["vcpu"]["exit_mmio_write"] == 5);
    CHECK(m["vcpu"]["exit_hlt"] == 1);
    CHECK(m["vcpu"]["exit_io_out"] == 0);
    for (char const* key : {"exit_mmio_read", "exit_shutdown", "exit_system_event",
                            "exit_fail_entry", "exit_internal_error", "exit_interrupted",
                            "exit_unknown", "failures", "pause_count"})
        CHECK(m["vcpu"].contains(key));
    CHECK(m["uart"]["write_count"] == 3);
    CHECK(m["uart"]["read_count"] == 0);

    json const& root = m["block_rootfs"];
    CHECK(root["read_count"] == 2);
    CHECK(root["read_bytes"] == 4096 + 512 + 4096);
    CHECK(root["write_count"] == 0);
    CHECK(root["execute_fails"] == 1);
    CHECK(root["flush_count"] == 1);
    for (char const* key : {"queue_event_count", "interrupt_count", "config_change_count",
                            "used_buffer_count", "discard_count", "write_zeroes_count",
                            "update_count", "update_fails", "write_bytes"})
        CHECK(root.contains(key));
    CHECK(m["block_1"]["write_count"] == 7);  // a drive without an id: its index
    CHECK(m["block"]["write_count"] == 7);
    CHECK(m["block"]["read_count"] == 2);
    CHECK(m["block"]["write_bytes"] == 7 * 512);
    CHECK(m["entropy"]["queue_event_count"] == 0);
    CHECK(m["entropy"].contains("used_buffer_count"));
    CHECK_FALSE(m["entropy"].contains("read_count"));
}

TEST_CASE("Metrics JSON of a machine with nothing but vCPUs", "[metrics]") {
    VcpuExitCounters vcpu;
    json const m = json::parse(metrics_json({.vcpus = {&vcpu}}));
    CHECK(m["vcpu"]["exit_io_in"] == 0);
    CHECK_FALSE(m.contains("uart"));
    CHECK_FALSE(m.contains("block"));
}

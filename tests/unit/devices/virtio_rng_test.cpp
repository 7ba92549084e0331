// SPDX-License-Identifier: Apache-2.0
// virtio-rng: requests are filled with random bytes and report their length; also driven end to
// end through the mmio transport as a guest driver would.
#include <catch2/catch.hpp>

#include <linux/virtio_config.h>
#include <linux/virtio_ids.h>
#include <linux/virtio_mmio.h>

#include <algorithm>
#include <array>
#include <cstring>
#include <memory>
#include <vector>

#include "devices/virtio/mmio_transport.h"
#include "devices/virtio/rng/rng_device.h"
#include "tests/support/mock_split_queue.h"
#include "vmm/base/size.h"

using namespace vmm;
using namespace vmm::devices::virtio;
using vmm::test::CountingInterrupt;
using vmm::test::MockSplitQueue;

namespace {

constexpr uint64_t kData = 0x20000;

class CountingIrq final : public IrqLine {
public:
    void trigger() override { ++count; }
    int count = 0;
};

GuestMemory make_memory() {
    std::array<GuestMemory::RegionSpec, 1> const layout{{{GuestAddress{0}, 1_MiB}}};
    auto memory = GuestMemory::create(layout);
    REQUIRE(memory.has_value());
    return std::move(*memory);
}

bool all_zero(GuestMemory const& memory, uint64_t address, uint64_t length) {
    auto bytes = memory.slice(GuestAddress{address}, length);
    REQUIRE(bytes.has_value());
    return std::ranges::all_of(*bytes, [](uint8_t b) { return b == 0; });
}

struct RngFixture {
    GuestMemory memory = make_memory();
    MockSplitQueue mock{memory, RngDevice::kQueueSize};
    std::array<Queue, 1> queues;
    CountingInterrupt interrupt;
    RngDevice rng;

    RngFixture() {
        auto queue = Queue::create(memory, mock.config(), RngDevice::kQueueSize, 0);
        REQUIRE(queue.has_value());
        queues[0] = std::move(*queue);
        REQUIRE(rng.activate(0, queues, memory, interrupt).has_value());
    }
};

}  // namespace

TEST_CASE("virtio-rng: identity and queues", "[virtio][rng]") {
    RngDevice rng;
    CHECK(rng.device_id() == VIRTIO_ID_RNG);
    CHECK(rng.features() == 0);
    CHECK(rng.config_size() == 0);
    REQUIRE(rng.queue_max_sizes().size() == 1);
    CHECK(rng.queue_max_sizes()[0] == RngDevice::kQueueSize);
}

TEST_CASE("virtio-rng: a request fills every writable buffer and reports the length",
          "[virtio][rng]") {
    RngFixture f;
    f.mock.write_chain(0, {{kData, 64, true}, {kData + 0x1000, 4096, true}});
    f.mock.publish(0);
    f.rng.process_queue(0);
    REQUIRE(f.mock.used_idx() == 1);
    CHECK(f.mock.used(0).id == 0);
    CHECK(f.mock.used(0).len == 64 + 4096);
    CHECK_FALSE(all_zero(f.memory, kData, 64));
    CHECK_FALSE(all_zero(f.memory, kData + 0x1000, 4096));
    CHECK(all_zero(f.memory, kData + 64, 0x1000 - 64));  // nothing between the buffers
    CHECK(f.interrupt.used == 1);
}

TEST_CASE("virtio-rng: a request with only readable buffers completes with 0 bytes",
          "[virtio][rng]") {
    RngFixture f;
    f.mock.write_chain(5, {{kData, 64}});
    f.mock.publish(5);
    f.rng.process_queue(0);
    REQUIRE(f.mock.used_idx() == 1);
    CHECK(f.mock.used(0).id == 5);
    CHECK(f.mock.used(0).len == 0);
    CHECK(all_zero(f.memory, kData, 64));
}

TEST_CASE("virtio-rng: several requests in one notification, one interrupt", "[virtio][rng]") {
    RngFixture f;
    for (uint16_t i = 0; i < 4; ++i) {
        f.mock.write_chain(i, {{kData + 0x100ull * i, 16, true}});
        f.mock.publish(i);
    }
    f.rng.process_queue(0);
    CHECK(f.mock.used_idx() == 4);
    for (uint16_t i = 0; i < 4; ++i) CHECK(f.mock.used(i).len == 16);
    CHECK(f.interrupt.used == 1);
    f.rng.process_queue(0);  // nothing new: no interrupt
    CHECK(f.interrupt.used == 1);
    f.rng.process_queue(1);  // no such queue
}

TEST_CASE("virtio-rng: one request gets at most 64 KiB", "[virtio][rng]") {
    RngFixture f;
    f.mock.write_chain(0, {{kData, 48 * 1024, true}, {kData + 0x10000, 48 * 1024, true}});
    f.mock.publish(0);
    f.rng.process_queue(0);
    REQUIRE(f.mock.used_idx() == 1);
    CHECK(f.mock.used(0).len == RngDevice::kMaxBytesPerRequest);
    CHECK(all_zero(f.memory, kData + 0x10000 + 16 * 1024, 32 * 1024));
}

TEST_CASE("virtio-rng: after reset the device does nothing", "[virtio][rng]") {
    RngFixture f;
    f.rng.reset();
    f.mock.write_chain(0, {{kData, 64, true}});
    f.mock.publish(0);
    f.rng.process_queue(0);
    CHECK(f.mock.used_idx() == 0);
}

TEST_CASE("virtio-rng: a guest driver's whole conversation through virtio-mmio",
          "[virtio][rng][mmio]") {
    GuestMemory memory = make_memory();
    auto irq = std::make_shared<CountingIrq>();
    MmioTransport transport(std::make_shared<RngDevice>(), memory, irq);
    auto read32 = [&](uint64_t offset) {
        std::array<uint8_t, 4> data{};
        transport.read(offset, data);
        uint32_t value;
        std::memcpy(&value, data.data(), 4);
        return value;
    };
    auto write32 = [&](uint64_t offset, uint32_t value) {
        std::array<uint8_t, 4> data;
        std::memcpy(data.data(), &value, 4);
        transport.write(offset, data);
    };
    CHECK(read32(VIRTIO_MMIO_DEVICE_ID) == VIRTIO_ID_RNG);
    write32(VIRTIO_MMIO_STATUS, 0);
    write32(VIRTIO_MMIO_STATUS, VIRTIO_CONFIG_S_ACKNOWLEDGE);
    write32(VIRTIO_MMIO_STATUS, VIRTIO_CONFIG_S_ACKNOWLEDGE | VIRTIO_CONFIG_S_DRIVER);
    write32(VIRTIO_MMIO_DEVICE_FEATURES_SEL, 1);
    uint32_t const high = read32(VIRTIO_MMIO_DEVICE_FEATURES);
    CHECK((high & 1) != 0);  // VERSION_1 is bit 32
    write32(VIRTIO_MMIO_DRIVER_FEATURES_SEL, 1);
    write32(VIRTIO_MMIO_DRIVER_FEATURES, 1);
    uint32_t status = VIRTIO_CONFIG_S_ACKNOWLEDGE | VIRTIO_CONFIG_S_DRIVER |
                      VIRTIO_CONFIG_S_FEATURES_OK;
    write32(VIRTIO_MMIO_STATUS, status);
    REQUIRE(read32(VIRTIO_MMIO_STATUS) == status);

    MockSplitQueue mock(memory, 8);
    write32(VIRTIO_MMIO_QUEUE_SEL, 0);
    CHECK(read32(VIRTIO_MMIO_QUEUE_NUM_MAX) == RngDevice::kQueueSize);
    write32(VIRTIO_MMIO_QUEUE_NUM, 8);
    write32(VIRTIO_MMIO_QUEUE_DESC_LOW, static_cast<uint32_t>(mock.config().desc_table));
    write32(VIRTIO_MMIO_QUEUE_AVAIL_LOW, static_cast<uint32_t>(mock.config().avail_ring));
    write32(VIRTIO_MMIO_QUEUE_USED_LOW, static_cast<uint32_t>(mock.config().used_ring));
    write32(VIRTIO_MMIO_QUEUE_READY, 1);
    status |= VIRTIO_CONFIG_S_DRIVER_OK;
    write32(VIRTIO_MMIO_STATUS, status);
    REQUIRE(read32(VIRTIO_MMIO_STATUS) == status);

    mock.write_chain(0, {{kData, 64, true}});
    mock.publish(0);
    write32(VIRTIO_MMIO_QUEUE_NOTIFY, 0);
    REQUIRE(mock.used_idx() == 1);
    CHECK(mock.used(0).len == 64);
    CHECK_FALSE(all_zero(memory, kData, 64));
    CHECK(irq->count == 1);
    CHECK(read32(VIRTIO_MMIO_INTERRUPT_STATUS) == MmioTransport::kInterruptUsed);
    write32(VIRTIO_MMIO_INTERRUPT_ACK, MmioTransport::kInterruptUsed);
    CHECK(read32(VIRTIO_MMIO_INTERRUPT_STATUS) == 0);
}

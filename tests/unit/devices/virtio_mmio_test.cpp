// SPDX-License-Identifier: Apache-2.0
// The virtio-mmio register table, feature negotiation, the status machine, queue set-up,
// interrupts and config space, with a fake device behind the transport.
#include <catch2/catch.hpp>

#include <linux/virtio_config.h>
#include <linux/virtio_mmio.h>

#include <array>
#include <atomic>
#include <cstdint>
#include <cstring>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "devices/virtio/mmio_transport.h"
#include "tests/support/mock_split_queue.h"
#include "vmm/base/size.h"

using namespace vmm;
using namespace vmm::devices::virtio;
using vmm::test::MockSplitQueue;

namespace {

constexpr uint64_t kRamSize = 1_MiB;
constexpr uint64_t kVersion1 = 1ull << VIRTIO_F_VERSION_1;
constexpr uint64_t kDeviceFeatures = (1ull << 0) | (1ull << 40);
constexpr uint32_t kAck = VIRTIO_CONFIG_S_ACKNOWLEDGE;
constexpr uint32_t kDriver = VIRTIO_CONFIG_S_DRIVER;
constexpr uint32_t kFeaturesOk = VIRTIO_CONFIG_S_FEATURES_OK;
constexpr uint32_t kDriverOk = VIRTIO_CONFIG_S_DRIVER_OK;
constexpr uint32_t kNeedsReset = VIRTIO_CONFIG_S_NEEDS_RESET;

class CountingIrq final : public IrqLine {
public:
    void trigger() override { ++count; }
    std::atomic<int> count{0};
};

class FakeDevice final : public VirtioDevice {
public:
    uint32_t device_id() const override { return 42; }
    uint64_t features() const override { return kDeviceFeatures; }
    std::span<uint16_t const> queue_max_sizes() const override { return kSizes; }
    uint32_t config_size() const override { return static_cast<uint32_t>(config.size()); }
    void read_config(uint32_t offset, std::span<uint8_t> data) override {
        config_accesses.push_back(data.size());
        std::memcpy(data.data(), config.data() + offset, data.size());
    }
    void write_config(uint32_t offset, std::span<uint8_t const> data) override {
        config_accesses.push_back(data.size());
        std::memcpy(config.data() + offset, data.data(), data.size());
    }
    Result<void> activate(uint64_t features, std::span<Queue> queues, GuestMemory const&,
                          VirtioInterrupt& irq) override {
        if (refuse) return fail(ErrorKind::Host, "refused by the test");
        ++activations;
        acked = features;
        active_queues = queues;
        interrupt = &irq;
        return {};
    }
    void process_queue(size_t index) override {
        processed.push_back(index);
        Queue& queue = active_queues[index];
        while (auto chain = queue.pop()) queue.push(chain->head, 5);
        if (queue.should_notify()) interrupt->signal_used();
    }
    void process_host_event(size_t index, uint32_t events) override {
        host_events.emplace_back(index, events);
        if (active_queues.empty()) return;  // not active: nothing to complete
        process_queue(0);  // as an asynchronous completion would
    }
    void reset() override {
        ++resets;
        active_queues = {};
        interrupt = nullptr;
    }

    static constexpr std::array<uint16_t, 2> kSizes{16, 8};
    std::array<uint8_t, 12> config{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12};
    std::vector<size_t> config_accesses;
    bool refuse = false;
    int activations = 0;
    int resets = 0;
    uint64_t acked = 0;
    std::span<Queue> active_queues;
    VirtioInterrupt* interrupt = nullptr;
    std::vector<size_t> processed;
    std::vector<std::pair<size_t, uint32_t>> host_events;
};

GuestMemory make_memory() {
    std::array<GuestMemory::RegionSpec, 1> const layout{{{GuestAddress{0}, kRamSize}}};
    auto memory = GuestMemory::create(layout);
    REQUIRE(memory.has_value());
    return std::move(*memory);
}

struct Fixture {
    GuestMemory memory = make_memory();
    std::shared_ptr<FakeDevice> device = std::make_shared<FakeDevice>();
    std::shared_ptr<CountingIrq> irq = std::make_shared<CountingIrq>();
    MmioTransport transport{device, memory, irq};

    uint32_t read32(uint64_t offset) {
        std::array<uint8_t, 4> data{0xaa, 0xaa, 0xaa, 0xaa};
        transport.read(offset, data);
        uint32_t value;
        std::memcpy(&value, data.data(), 4);
        return value;
    }
    void write32(uint64_t offset, uint32_t value) {
        std::array<uint8_t, 4> data;
        std::memcpy(data.data(), &value, 4);
        transport.write(offset, data);
    }
    void write_features(uint64_t features) {
        write32(VIRTIO_MMIO_DRIVER_FEATURES_SEL, 0);
        write32(VIRTIO_MMIO_DRIVER_FEATURES, static_cast<uint32_t>(features));
        write32(VIRTIO_MMIO_DRIVER_FEATURES_SEL, 1);
        write32(VIRTIO_MMIO_DRIVER_FEATURES, static_cast<uint32_t>(features >> 32));
    }
    /// ACKNOWLEDGE, DRIVER, the features, FEATURES_OK; true when the device kept FEATURES_OK.
    bool negotiate(uint64_t features) {
        write32(VIRTIO_MMIO_STATUS, kAck);
        write32(VIRTIO_MMIO_STATUS, kAck | kDriver);
        write_features(features);
        write32(VIRTIO_MMIO_STATUS, kAck | kDriver | kFeaturesOk);
        return (read32(VIRTIO_MMIO_STATUS) & kFeaturesOk) != 0;
    }
    void setup_queue(uint32_t index, devices::virtio::QueueConfig const& config,
                     std::optional<uint32_t> num = std::nullopt) {
        write32(VIRTIO_MMIO_QUEUE_SEL, index);
        write32(VIRTIO_MMIO_QUEUE_NUM, num.value_or(config.size));
        write32(VIRTIO_MMIO_QUEUE_DESC_LOW, static_cast<uint32_t>(config.desc_table));
        write32(VIRTIO_MMIO_QUEUE_DESC_HIGH, static_cast<uint32_t>(config.desc_table >> 32));
        write32(VIRTIO_MMIO_QUEUE_AVAIL_LOW, static_cast<uint32_t>(config.avail_ring));
        write32(VIRTIO_MMIO_QUEUE_AVAIL_HIGH, static_cast<uint32_t>(config.avail_ring >> 32));
        write32(VIRTIO_MMIO_QUEUE_USED_LOW, static_cast<uint32_t>(config.used_ring));
        write32(VIRTIO_MMIO_QUEUE_USED_HIGH, static_cast<uint32_t>(config.used_ring >> 32));
        write32(VIRTIO_MMIO_QUEUE_READY, 1);
    }
    void driver_ok() { write32(VIRTIO_MMIO_STATUS, kAck | kDriver | kFeaturesOk | kDriverOk); }
};

}  // namespace

TEST_CASE("virtio-mmio: identification registers", "[virtio][mmio]") {
    Fixture f;
    CHECK(f.read32(VIRTIO_MMIO_MAGIC_VALUE) == 0x74726976);
    CHECK(f.read32(VIRTIO_MMIO_VERSION) == 2);
    CHECK(f.read32(VIRTIO_MMIO_DEVICE_ID) == 42);
    CHECK(f.read32(VIRTIO_MMIO_VENDOR_ID) == MmioTransport::kVendorId);
    // "WISP" in memory order.
    std::array<uint8_t, 4> vendor{};
    f.transport.read(VIRTIO_MMIO_VENDOR_ID, vendor);
    CHECK(std::string(vendor.begin(), vendor.end()) == "WISP");
    CHECK(f.read32(VIRTIO_MMIO_STATUS) == 0);
    CHECK(f.read32(VIRTIO_MMIO_INTERRUPT_STATUS) == 0);
    CHECK(f.read32(VIRTIO_MMIO_CONFIG_GENERATION) == 0);
    for (uint64_t shm : {VIRTIO_MMIO_SHM_LEN_LOW, VIRTIO_MMIO_SHM_LEN_HIGH,
                         VIRTIO_MMIO_SHM_BASE_LOW, VIRTIO_MMIO_SHM_BASE_HIGH})
        CHECK(f.read32(shm) == 0xffffffff);
    f.write32(VIRTIO_MMIO_SHM_SEL, 3);
    CHECK(f.read32(VIRTIO_MMIO_SHM_LEN_LOW) == 0xffffffff);
    // Write-only registers and holes read as zero; writes to read-only ones change nothing.
    for (uint64_t offset : {VIRTIO_MMIO_DRIVER_FEATURES, VIRTIO_MMIO_QUEUE_SEL,
                            VIRTIO_MMIO_QUEUE_NUM, VIRTIO_MMIO_QUEUE_NOTIFY,
                            VIRTIO_MMIO_INTERRUPT_ACK, VIRTIO_MMIO_QUEUE_DESC_LOW, 0x0c0, 0x0f8})
        CHECK(f.read32(offset) == 0);
    for (uint64_t offset : {VIRTIO_MMIO_MAGIC_VALUE, VIRTIO_MMIO_VERSION, VIRTIO_MMIO_DEVICE_ID,
                            VIRTIO_MMIO_VENDOR_ID, VIRTIO_MMIO_INTERRUPT_STATUS,
                            VIRTIO_MMIO_CONFIG_GENERATION})
        f.write32(offset, 0x1234);
    CHECK(f.read32(VIRTIO_MMIO_MAGIC_VALUE) == 0x74726976);
    CHECK(f.read32(VIRTIO_MMIO_DEVICE_ID) == 42);
    CHECK(f.read32(VIRTIO_MMIO_CONFIG_GENERATION) == 0);
}

TEST_CASE("virtio-mmio: device features by word, with the transport's own", "[virtio][mmio]") {
    Fixture f;
    uint64_t const offered = f.transport.offered_features();
    CHECK((offered & kDeviceFeatures) == kDeviceFeatures);
    CHECK((offered & kVersion1) != 0);
    CHECK((offered & (1ull << kFeatureIndirectDesc)) != 0);
    CHECK((offered & (1ull << kFeatureEventIdx)) != 0);
    CHECK(f.read32(VIRTIO_MMIO_DEVICE_FEATURES) == static_cast<uint32_t>(offered));
    f.write32(VIRTIO_MMIO_DEVICE_FEATURES_SEL, 1);
    CHECK(f.read32(VIRTIO_MMIO_DEVICE_FEATURES) == static_cast<uint32_t>(offered >> 32));
    f.write32(VIRTIO_MMIO_DEVICE_FEATURES_SEL, 2);
    CHECK(f.read32(VIRTIO_MMIO_DEVICE_FEATURES) == 0);
}

TEST_CASE("virtio-mmio: registers take only aligned 32-bit accesses", "[virtio][mmio]") {
    Fixture f;
    for (size_t width : {1, 2, 8}) {
        std::vector<uint8_t> data(width, 0xaa);
        f.transport.read(VIRTIO_MMIO_MAGIC_VALUE, data);
        for (uint8_t byte : data) CHECK(byte == 0);
    }
    std::array<uint8_t, 4> data{0xaa, 0xaa, 0xaa, 0xaa};
    f.transport.read(VIRTIO_MMIO_MAGIC_VALUE + 2, data);  // unaligned
    CHECK(data == std::array<uint8_t, 4>{});
    // A 1-byte or unaligned write of ACKNOWLEDGE does nothing.
    uint8_t const ack = kAck;
    f.transport.write(VIRTIO_MMIO_STATUS, std::span<uint8_t const>(&ack, 1));
    std::array<uint8_t, 8> wide{kAck, 0, 0, 0, 0, 0, 0, 0};
    f.transport.write(VIRTIO_MMIO_STATUS, wide);
    f.transport.write(VIRTIO_MMIO_STATUS + 1, std::span<uint8_t const>(wide.data(), 4));
    CHECK(f.read32(VIRTIO_MMIO_STATUS) == 0);
    // Accesses past the window are ignored rather than trusted.
    f.transport.read(MmioTransport::kWindowSize - 2, data);
    CHECK(data == std::array<uint8_t, 4>{});
}

TEST_CASE("virtio-mmio: feature negotiation", "[virtio][mmio]") {
    Fixture f;
    SECTION("the offered features with VERSION_1 are accepted") {
        CHECK(f.negotiate(kDeviceFeatures | kVersion1));
        CHECK(f.read32(VIRTIO_MMIO_STATUS) == (kAck | kDriver | kFeaturesOk));
        // Fixed from now on.
        f.write_features(kVersion1);
        f.setup_queue(0, MockSplitQueue(f.memory, 16).config());
        f.driver_ok();
        CHECK(f.device->acked == (kDeviceFeatures | kVersion1));
    }
    SECTION("without VERSION_1 FEATURES_OK is refused") {
        CHECK_FALSE(f.negotiate(kDeviceFeatures));
        CHECK(f.read32(VIRTIO_MMIO_STATUS) == (kAck | kDriver));
        f.driver_ok();  // DRIVER_OK without FEATURES_OK is ignored too
        CHECK(f.read32(VIRTIO_MMIO_STATUS) == (kAck | kDriver));
        CHECK(f.device->activations == 0);
    }
    SECTION("a feature that was not offered is refused") {
        CHECK_FALSE(f.negotiate(kVersion1 | (1ull << 5)));
        CHECK_FALSE(f.negotiate(kVersion1 | (1ull << 63)));
    }
    SECTION("feature words beyond 1 do not exist") {
        f.write32(VIRTIO_MMIO_STATUS, kAck);
        f.write32(VIRTIO_MMIO_STATUS, kAck | kDriver);
        f.write_features(kVersion1);
        f.write32(VIRTIO_MMIO_DRIVER_FEATURES_SEL, 2);
        f.write32(VIRTIO_MMIO_DRIVER_FEATURES, 0xffffffff);
        f.write32(VIRTIO_MMIO_STATUS, kAck | kDriver | kFeaturesOk);
        CHECK((f.read32(VIRTIO_MMIO_STATUS) & kFeaturesOk) != 0);
    }
}

TEST_CASE("virtio-mmio: status bits come in order and are cleared only by reset",
          "[virtio][mmio]") {
    Fixture f;
    f.write32(VIRTIO_MMIO_STATUS, kDriver);  // DRIVER before ACKNOWLEDGE
    CHECK(f.read32(VIRTIO_MMIO_STATUS) == 0);
    f.write32(VIRTIO_MMIO_STATUS, kAck);
    f.write32(VIRTIO_MMIO_STATUS, kAck | kFeaturesOk);  // FEATURES_OK before DRIVER
    CHECK(f.read32(VIRTIO_MMIO_STATUS) == kAck);
    f.write32(VIRTIO_MMIO_STATUS, 0x10);  // not a status bit
    f.write32(VIRTIO_MMIO_STATUS, kAck | 0x20);
    CHECK(f.read32(VIRTIO_MMIO_STATUS) == kAck);
    f.write32(VIRTIO_MMIO_STATUS, kAck | kDriver);
    f.write32(VIRTIO_MMIO_STATUS, kAck);  // clearing DRIVER
    CHECK(f.read32(VIRTIO_MMIO_STATUS) == (kAck | kDriver));
    f.write32(VIRTIO_MMIO_STATUS, kAck | kDriver | kDriverOk);  // skipping FEATURES_OK
    CHECK(f.read32(VIRTIO_MMIO_STATUS) == (kAck | kDriver));
    f.write32(VIRTIO_MMIO_STATUS, kAck | kDriver | VIRTIO_CONFIG_S_FAILED);
    CHECK(f.read32(VIRTIO_MMIO_STATUS) == (kAck | kDriver | VIRTIO_CONFIG_S_FAILED));
    f.write_features(kVersion1);
    f.write32(VIRTIO_MMIO_STATUS, kAck | kDriver | VIRTIO_CONFIG_S_FAILED | kFeaturesOk);
    CHECK((f.read32(VIRTIO_MMIO_STATUS) & kFeaturesOk) == 0);  // failed: only reset helps
    f.write32(VIRTIO_MMIO_STATUS, 0);
    CHECK(f.read32(VIRTIO_MMIO_STATUS) == 0);
    // Several steps in one write are taken in order.
    f.write32(VIRTIO_MMIO_STATUS, kAck | kDriver);
    CHECK(f.read32(VIRTIO_MMIO_STATUS) == (kAck | kDriver));
}

TEST_CASE("virtio-mmio: queue registers and activation", "[virtio][mmio]") {
    Fixture f;
    MockSplitQueue mock(f.memory, 16);
    f.write32(VIRTIO_MMIO_QUEUE_SEL, 0);
    CHECK(f.read32(VIRTIO_MMIO_QUEUE_NUM_MAX) == 16);
    f.write32(VIRTIO_MMIO_QUEUE_SEL, 1);
    CHECK(f.read32(VIRTIO_MMIO_QUEUE_NUM_MAX) == 8);
    f.write32(VIRTIO_MMIO_QUEUE_SEL, 2);  // no such queue
    CHECK(f.read32(VIRTIO_MMIO_QUEUE_NUM_MAX) == 0);
    f.write32(VIRTIO_MMIO_QUEUE_READY, 1);
    CHECK(f.read32(VIRTIO_MMIO_QUEUE_READY) == 0);

    REQUIRE(f.negotiate(kVersion1 | (1ull << kFeatureEventIdx)));
    f.setup_queue(0, mock.config());
    CHECK(f.read32(VIRTIO_MMIO_QUEUE_READY) == 1);
    // While ready, the queue's registers are fixed: this would break activation if taken.
    f.write32(VIRTIO_MMIO_QUEUE_NUM, 3);
    f.write32(VIRTIO_MMIO_QUEUE_DESC_LOW, 0x7);
    f.write32(VIRTIO_MMIO_QUEUE_USED_HIGH, 0x1);
    f.driver_ok();
    CHECK(f.read32(VIRTIO_MMIO_STATUS) == (kAck | kDriver | kFeaturesOk | kDriverOk));
    REQUIRE(f.device->activations == 1);
    REQUIRE(f.device->active_queues.size() == 2);
    CHECK(f.device->active_queues[0].enabled());
    CHECK(f.device->active_queues[0].size() == 16);
    CHECK_FALSE(f.device->active_queues[1].enabled());  // never made ready

    // After DRIVER_OK no queue register changes, not even for the queue that was not ready.
    f.write32(VIRTIO_MMIO_QUEUE_SEL, 1);
    f.write32(VIRTIO_MMIO_QUEUE_NUM, 8);
    f.write32(VIRTIO_MMIO_QUEUE_READY, 1);
    CHECK(f.read32(VIRTIO_MMIO_QUEUE_READY) == 0);
    f.write32(VIRTIO_MMIO_QUEUE_SEL, 0);
    f.write32(VIRTIO_MMIO_QUEUE_READY, 0);
    CHECK(f.read32(VIRTIO_MMIO_QUEUE_READY) == 1);
}

TEST_CASE("virtio-mmio: a queue the driver set up badly refuses activation", "[virtio][mmio]") {
    Fixture f;
    MockSplitQueue mock(f.memory, 16);
    auto config = mock.config();
    std::optional<uint32_t> num;
    SECTION("size not a power of two") { config.size = 12; }
    SECTION("size above the maximum") { config.size = 32; }
    SECTION("size beyond 16 bits") { num = 0x10010; }  // 16 if truncated
    SECTION("ring outside RAM") { config.used_ring = kRamSize + 0x1000; }
    SECTION("ring above 4 GiB, outside RAM") { config.desc_table = 0x1'0000'1000; }
    SECTION("misaligned ring") { config.avail_ring += 1; }
    REQUIRE(f.negotiate(kVersion1));
    f.setup_queue(0, config, num);
    f.driver_ok();
    CHECK(f.device->activations == 0);
    uint32_t const status = f.read32(VIRTIO_MMIO_STATUS);
    CHECK((status & kNeedsReset) != 0);
    CHECK((status & kDriverOk) != 0);
    CHECK(f.read32(VIRTIO_MMIO_INTERRUPT_STATUS) == MmioTransport::kInterruptConfig);
    CHECK(f.read32(VIRTIO_MMIO_CONFIG_GENERATION) == 1);
    CHECK(f.irq->count == 1);
    f.transport.notify(0);  // nothing is processed
    CHECK(f.device->processed.empty());
}

TEST_CASE("virtio-mmio: a device that refuses activation needs a reset", "[virtio][mmio]") {
    Fixture f;
    f.device->refuse = true;
    REQUIRE(f.negotiate(kVersion1));
    f.setup_queue(0, MockSplitQueue(f.memory, 16).config());
    f.driver_ok();
    CHECK((f.read32(VIRTIO_MMIO_STATUS) & kNeedsReset) != 0);
    // The driver writes back what it read (with NEEDS_RESET) plus nothing new: still refused.
    f.write32(VIRTIO_MMIO_STATUS, f.read32(VIRTIO_MMIO_STATUS));
    CHECK((f.read32(VIRTIO_MMIO_STATUS) & kNeedsReset) != 0);
    f.device->refuse = false;
    f.write32(VIRTIO_MMIO_STATUS, 0);
    CHECK(f.read32(VIRTIO_MMIO_STATUS) == 0);
}

TEST_CASE("virtio-mmio: notifications, used-buffer interrupts and acknowledgement",
          "[virtio][mmio]") {
    Fixture f;
    MockSplitQueue mock(f.memory, 16);
    mock.write_chain(0, {{0x20000, 64, true}});

    f.transport.notify(0);  // before DRIVER_OK: ignored
    REQUIRE(f.negotiate(kVersion1));
    f.setup_queue(0, mock.config());
    f.transport.notify(0);
    CHECK(f.device->processed.empty());
    f.driver_ok();

    mock.publish(0);
    f.transport.notify(0);  // as from the ioeventfd
    CHECK(f.device->processed == std::vector<size_t>{0});
    CHECK(mock.used_idx() == 1);
    CHECK(mock.used(0).len == 5);
    CHECK(f.irq->count == 1);
    CHECK(f.read32(VIRTIO_MMIO_INTERRUPT_STATUS) == MmioTransport::kInterruptUsed);

    mock.publish(0);
    f.write32(VIRTIO_MMIO_QUEUE_NOTIFY, 0);  // through the bus, without an ioeventfd
    CHECK(f.device->processed.size() == 2);
    CHECK(mock.used_idx() == 2);
    CHECK(f.irq->count == 2);

    f.write32(VIRTIO_MMIO_INTERRUPT_ACK, MmioTransport::kInterruptConfig);  // not pending
    CHECK(f.read32(VIRTIO_MMIO_INTERRUPT_STATUS) == MmioTransport::kInterruptUsed);
    f.write32(VIRTIO_MMIO_INTERRUPT_ACK, MmioTransport::kInterruptUsed);
    CHECK(f.read32(VIRTIO_MMIO_INTERRUPT_STATUS) == 0);

    f.transport.notify(7);  // no such queue
    f.write32(VIRTIO_MMIO_QUEUE_NOTIFY, 0xffffffff);
    CHECK(f.device->processed.size() == 2);
}

TEST_CASE("virtio-mmio: host events reach the device, active or not", "[virtio][mmio]") {
    Fixture f;
    MockSplitQueue mock(f.memory, 16);
    f.transport.host_event(1, 4);  // before activation: the device decides what to do
    REQUIRE(f.device->host_events.size() == 1);
    CHECK(f.device->host_events[0] == std::pair<size_t, uint32_t>{1, 4});
    CHECK(f.device->processed.empty());

    REQUIRE(f.negotiate(kVersion1));
    f.setup_queue(0, mock.config());
    f.driver_ok();
    mock.write_chain(0, {{0x20000, 64, true}});
    mock.publish(0);
    f.transport.host_event(0, 1);  // a completion that returns the buffer
    CHECK(mock.used_idx() == 1);
    CHECK(f.irq->count == 1);

    SECTION("a queue broken during host work puts the device in needs-reset") {
        mock.set_avail_idx(40);
        f.transport.host_event(0, 1);
        CHECK((f.read32(VIRTIO_MMIO_STATUS) & kNeedsReset) != 0);
    }
}

TEST_CASE("virtio-mmio: a broken queue sets DEVICE_NEEDS_RESET", "[virtio][mmio]") {
    Fixture f;
    MockSplitQueue mock(f.memory, 16);
    REQUIRE(f.negotiate(kVersion1));
    f.setup_queue(0, mock.config());
    f.driver_ok();
    mock.set_avail_idx(17);  // more than the queue holds
    f.transport.notify(0);
    CHECK((f.read32(VIRTIO_MMIO_STATUS) & kNeedsReset) != 0);
    CHECK((f.read32(VIRTIO_MMIO_INTERRUPT_STATUS) & MmioTransport::kInterruptConfig) != 0);
    CHECK(f.read32(VIRTIO_MMIO_CONFIG_GENERATION) == 1);
    f.transport.notify(0);  // no more work until reset
    CHECK(f.device->processed.size() == 1);
}

TEST_CASE("virtio-mmio: a reset clears everything the driver set", "[virtio][mmio]") {
    Fixture f;
    MockSplitQueue mock(f.memory, 16);
    REQUIRE(f.negotiate(kVersion1 | kDeviceFeatures));
    f.setup_queue(0, mock.config());
    f.write32(VIRTIO_MMIO_DEVICE_FEATURES_SEL, 1);
    f.driver_ok();
    mock.write_chain(0, {{0x20000, 64, true}});
    mock.publish(0);
    f.transport.notify(0);
    REQUIRE(f.read32(VIRTIO_MMIO_INTERRUPT_STATUS) != 0);

    f.write32(VIRTIO_MMIO_STATUS, 0);
    CHECK(f.device->resets >= 1);
    CHECK(f.device->active_queues.empty());
    CHECK(f.read32(VIRTIO_MMIO_STATUS) == 0);
    CHECK(f.read32(VIRTIO_MMIO_INTERRUPT_STATUS) == 0);
    CHECK(f.read32(VIRTIO_MMIO_DEVICE_FEATURES) ==
          static_cast<uint32_t>(f.transport.offered_features()));  // selector back to 0
    f.write32(VIRTIO_MMIO_QUEUE_SEL, 0);
    CHECK(f.read32(VIRTIO_MMIO_QUEUE_READY) == 0);
    f.transport.notify(0);
    CHECK(f.device->processed.size() == 1);

    // The old driver features are gone: FEATURES_OK without writing any is refused.
    f.write32(VIRTIO_MMIO_STATUS, kAck);
    f.write32(VIRTIO_MMIO_STATUS, kAck | kDriver);
    f.write32(VIRTIO_MMIO_STATUS, kAck | kDriver | kFeaturesOk);
    CHECK((f.read32(VIRTIO_MMIO_STATUS) & kFeaturesOk) == 0);
    // The old queue set-up is gone: ready without an address refuses activation.
    f.write32(VIRTIO_MMIO_STATUS, 0);
    REQUIRE(f.negotiate(kVersion1));
    f.write32(VIRTIO_MMIO_QUEUE_SEL, 0);
    f.write32(VIRTIO_MMIO_QUEUE_READY, 1);
    f.driver_ok();
    CHECK((f.read32(VIRTIO_MMIO_STATUS) & kNeedsReset) != 0);
}

TEST_CASE("virtio-mmio: config space accesses stay inside the device's config", "[virtio][mmio]") {
    Fixture f;
    uint64_t const base = MmioTransport::kConfigOffset;
    std::array<uint8_t, 4> word{};
    f.transport.read(base, word);
    CHECK(word == std::array<uint8_t, 4>{1, 2, 3, 4});
    uint8_t byte = 0;
    f.transport.read(base + 11, std::span<uint8_t>(&byte, 1));
    CHECK(byte == 12);
    std::array<uint8_t, 2> half{};
    f.transport.read(base + 6, half);
    CHECK(half == std::array<uint8_t, 2>{7, 8});

    std::array<uint8_t, 8> wide{};
    f.device->config_accesses.clear();
    f.transport.read(base + 4, wide);  // as two 4-byte reads
    CHECK(wide == std::array<uint8_t, 8>{5, 6, 7, 8, 9, 10, 11, 12});
    CHECK(f.device->config_accesses == std::vector<size_t>{4, 4});

    // Past the end, straddling it, or an odd width: reads zero, writes nothing.
    f.device->config_accesses.clear();
    word.fill(0xaa);
    f.transport.read(base + 12, word);
    CHECK(word == std::array<uint8_t, 4>{});
    word.fill(0xaa);
    f.transport.read(base + 10, word);
    CHECK(word == std::array<uint8_t, 4>{});
    wide.fill(0xaa);
    f.transport.read(base + 8, wide);
    CHECK(wide == std::array<uint8_t, 8>{});
    std::array<uint8_t, 3> odd{0xaa, 0xaa, 0xaa};
    f.transport.read(base, odd);
    CHECK(odd == std::array<uint8_t, 3>{});
    std::array<uint8_t, 4> const pattern{0xee, 0xee, 0xee, 0xee};
    f.transport.write(base + 10, pattern);
    f.transport.write(base + 0xfc, pattern);
    CHECK(f.device->config_accesses.empty());

    f.transport.write(base + 8, pattern);
    CHECK(f.device->config[8] == 0xee);
    CHECK(f.device->config[11] == 0xee);
    CHECK(f.read32(VIRTIO_MMIO_CONFIG_GENERATION) == 0);  // driver writes do not change it
}

TEST_CASE("virtio-mmio: a config change raises an interrupt and a new generation",
          "[virtio][mmio]") {
    Fixture f;
    REQUIRE(f.negotiate(kVersion1));
    f.setup_queue(0, MockSplitQueue(f.memory, 16).config());
    f.driver_ok();
    REQUIRE(f.device->interrupt != nullptr);
    f.device->interrupt->signal_config_change();
    CHECK(f.read32(VIRTIO_MMIO_CONFIG_GENERATION) == 1);
    CHECK(f.read32(VIRTIO_MMIO_INTERRUPT_STATUS) == MmioTransport::kInterruptConfig);
    CHECK(f.irq->count == 1);
    f.device->interrupt->signal_used();
    CHECK(f.read32(VIRTIO_MMIO_INTERRUPT_STATUS) ==
          (MmioTransport::kInterruptConfig | MmioTransport::kInterruptUsed));
    CHECK(f.read32(VIRTIO_MMIO_CONFIG_GENERATION) == 1);
}

TEST_CASE("virtio-mmio counts notifications, used buffers and interrupts for the metrics",
          "[virtio][mmio]") {
    Fixture f;
    MockSplitQueue mock(f.memory, 16);
    mock.write_chain(0, {{0x20000, 64, true}});
    mock.write_chain(1, {{0x21000, 64, true}});
    mock.write_chain(2, {{0x22000, 64, true}});
    f.transport.notify(0);  // before DRIVER_OK: not served, not counted
    REQUIRE(f.negotiate(kVersion1));
    f.setup_queue(0, mock.config());
    f.driver_ok();
    auto const& counters = f.transport.counters();
    CHECK(counters.notifications == 0u);
    mock.publish(0);
    mock.publish(1);
    f.transport.notify(0);
    CHECK(counters.notifications == 1u);
    CHECK(counters.used_buffers == 2u);
    CHECK(counters.interrupts == static_cast<uint64_t>(f.irq->count.load()));
    CHECK(counters.interrupts == 1u);
    f.transport.notify(0);  // nothing new
    CHECK(counters.notifications == 2u);
    CHECK(counters.used_buffers == 2u);
    mock.publish(2);
    f.transport.host_event(0, 1);  // completions count too
    CHECK(counters.used_buffers == 3u);
    CHECK(counters.config_changes == 0u);
}

TEST_CASE("virtio-mmio change_config raises a config interrupt only for a running driver",
          "[virtio][mmio]") {
    Fixture f;
    int changes = 0;
    auto change = [&](VirtioDevice& device) {
        CHECK(&device == f.device.get());
        ++changes;
        return true;
    };
    CHECK(f.transport.change_config(change));  // no driver yet: nothing to tell
    CHECK(f.irq->count == 0);
    CHECK(f.read32(VIRTIO_MMIO_CONFIG_GENERATION) == 0);
    REQUIRE(f.negotiate(kVersion1));
    f.setup_queue(0, MockSplitQueue(f.memory, 16).config());
    f.driver_ok();
    CHECK(f.transport.change_config(change));
    CHECK(f.irq->count == 1);
    CHECK(f.read32(VIRTIO_MMIO_INTERRUPT_STATUS) == MmioTransport::kInterruptConfig);
    CHECK(f.read32(VIRTIO_MMIO_CONFIG_GENERATION) == 1);
    CHECK(f.transport.counters().config_changes == 1u);
    // A change that changed nothing: no interrupt.
    CHECK_FALSE(f.transport.change_config([](VirtioDevice&) { return false; }));
    CHECK(f.irq->count == 1);
    CHECK(changes == 2);
}

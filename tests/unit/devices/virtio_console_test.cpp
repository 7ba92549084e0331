// SPDX-License-Identifier: Apache-2.0
// virtio-console: transmitq output reaches the sink in order, host input fills the receiveq's
// buffers, waits (bounded) when there are none, and pauses its source when the bound is hit.
#include <catch2/catch.hpp>

#include <linux/virtio_config.h>
#include <linux/virtio_ids.h>
#include <linux/virtio_mmio.h>

#include <array>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "devices/virtio/console/console_device.h"
#include "devices/virtio/mmio_transport.h"
#include "tests/support/mock_split_queue.h"
#include "vmm/base/size.h"

using namespace vmm;
using namespace vmm::devices::virtio;
using vmm::test::CountingInterrupt;
using vmm::test::MockSplitQueue;

namespace {

constexpr uint64_t kData = 0x20000;

GuestMemory make_memory() {
    std::array<GuestMemory::RegionSpec, 1> const layout{{{GuestAddress{0}, 1_MiB}}};
    auto memory = GuestMemory::create(layout);
    REQUIRE(memory.has_value());
    return std::move(*memory);
}

std::span<uint8_t const> bytes_of(std::string const& text) {
    return {reinterpret_cast<uint8_t const*>(text.data()), text.size()};
}

struct ConsoleFixture {
    GuestMemory memory = make_memory();
    MockSplitQueue rx{memory, ConsoleDevice::kQueueSize, 0x1000};
    MockSplitQueue tx{memory, ConsoleDevice::kQueueSize, 0x8000};
    std::array<Queue, 2> queues;
    CountingInterrupt interrupt;
    std::string output;
    int output_calls = 0;
    int space_calls = 0;
    ConsoleDevice console{[this](std::span<uint8_t const> bytes) {
        output.append(bytes.begin(), bytes.end());
        ++output_calls;
    }};

    explicit ConsoleFixture(bool activated = true) {
        console.set_on_input_space([this] { ++space_calls; });
        auto receive = Queue::create(memory, rx.config(), ConsoleDevice::kQueueSize, 0);
        auto transmit = Queue::create(memory, tx.config(), ConsoleDevice::kQueueSize, 0);
        REQUIRE(receive.has_value());
        REQUIRE(transmit.has_value());
        queues[0] = std::move(*receive);
        queues[1] = std::move(*transmit);
        if (activated) activate();
    }
    void activate() { REQUIRE(console.activate(0, queues, memory, interrupt).has_value()); }
    void put(uint64_t address, std::string const& text) {
        REQUIRE(memory.write(GuestAddress{address}, bytes_of(text)).has_value());
    }
    std::string get(uint64_t address, size_t length) {
        std::string text(length, '\0');
        auto out = std::span(reinterpret_cast<uint8_t*>(text.data()), length);
        REQUIRE(memory.read(GuestAddress{address}, out).has_value());
        return text;
    }
    /// One receive buffer of `length` bytes at kData + 0x1000 * head.
    void post_receive(uint16_t head, uint32_t length) {
        rx.write_chain(head, {{kData + 0x1000ull * head, length, true}});
        rx.publish(head);
    }
    size_t enqueue(std::string const& text) { return console.enqueue_input(bytes_of(text)); }
};

}  // namespace

TEST_CASE("virtio-console: identity, queues, no features", "[virtio][console]") {
    ConsoleDevice console{nullptr};
    CHECK(console.device_id() == VIRTIO_ID_CONSOLE);
    CHECK(console.features() == 0);  // no SIZE, MULTIPORT or EMERG_WRITE
    CHECK(console.config_size() == 0);
    REQUIRE(console.queue_max_sizes().size() == 2);
    CHECK(console.queue_max_sizes()[ConsoleDevice::kReceiveQueue] == ConsoleDevice::kQueueSize);
    CHECK(console.queue_max_sizes()[ConsoleDevice::kTransmitQueue] == ConsoleDevice::kQueueSize);
}

TEST_CASE("virtio-console: transmit gathers each chain's buffers in order", "[virtio][console]") {
    ConsoleFixture f;
    f.put(kData, "hel");
    f.put(kData + 0x100, "lo, ");
    f.put(kData + 0x200, "world");
    f.tx.write_chain(0, {{kData, 3}, {kData + 0x100, 4}});
    f.tx.publish(0);
    f.tx.write_chain(2, {{kData + 0x200, 5}});
    f.tx.publish(2);
    f.console.process_queue(ConsoleDevice::kTransmitQueue);
    CHECK(f.output == "hello, world");
    CHECK(f.output_calls == 2);  // one per chain
    REQUIRE(f.tx.used_idx() == 2);
    CHECK(f.tx.used(0).id == 0);
    CHECK(f.tx.used(0).len == 0);
    CHECK(f.tx.used(1).id == 2);
    CHECK(f.tx.used(1).len == 0);
    CHECK(f.interrupt.used == 1);
    f.console.process_queue(ConsoleDevice::kTransmitQueue);  // nothing new: no interrupt
    CHECK(f.interrupt.used == 1);
}

TEST_CASE("virtio-console: a transmit chain of writable buffers outputs nothing",
          "[virtio][console]") {
    ConsoleFixture f;
    f.put(kData, "secret");
    f.tx.write_chain(0, {{kData, 6, true}});
    f.tx.publish(0);
    f.console.process_queue(ConsoleDevice::kTransmitQueue);
    CHECK(f.output.empty());
    CHECK(f.output_calls == 0);
    REQUIRE(f.tx.used_idx() == 1);
    CHECK(f.tx.used(0).len == 0);
    CHECK(f.get(kData, 6) == "secret");  // and nothing written into it
}

TEST_CASE("virtio-console: a long transmit buffer reaches the sink in bounded pieces",
          "[virtio][console]") {
    ConsoleFixture f;
    uint32_t const length = ConsoleDevice::kMaxOutputChunk + 100;
    f.tx.write_chain(0, {{kData, length}});
    f.tx.publish(0);
    f.console.process_queue(ConsoleDevice::kTransmitQueue);
    CHECK(f.output.size() == length);
    CHECK(f.output_calls == 2);
}

TEST_CASE("virtio-console: input fills a receive buffer and reports the length",
          "[virtio][console]") {
    ConsoleFixture f;
    f.post_receive(0, 16);
    f.console.process_queue(ConsoleDevice::kReceiveQueue);
    CHECK(f.rx.used_idx() == 0);  // no input yet: the buffer waits
    CHECK(f.enqueue("abc") == 3);
    REQUIRE(f.rx.used_idx() == 1);
    CHECK(f.rx.used(0).id == 0);
    CHECK(f.rx.used(0).len == 3);
    CHECK(f.get(kData, 3) == "abc");
    CHECK(f.console.pending_input() == 0);
    CHECK(f.interrupt.used == 1);
}

TEST_CASE("virtio-console: input is split across buffers and chains", "[virtio][console]") {
    ConsoleFixture f;
    f.rx.write_chain(0, {{kData, 2, true}, {kData + 0x100, 3, true}});
    f.rx.publish(0);
    f.post_receive(2, 4);
    CHECK(f.enqueue("abcdefgh") == 8);
    REQUIRE(f.rx.used_idx() == 2);
    CHECK(f.rx.used(0).len == 5);
    CHECK(f.get(kData, 2) == "ab");
    CHECK(f.get(kData + 0x100, 3) == "cde");
    CHECK(f.rx.used(1).id == 2);
    CHECK(f.rx.used(1).len == 3);
    CHECK(f.get(kData + 0x2000, 3) == "fgh");
    CHECK(f.interrupt.used == 1);
}

TEST_CASE("virtio-console: input waits for the guest's buffers", "[virtio][console]") {
    ConsoleFixture f;
    CHECK(f.enqueue("hello") == 5);
    CHECK(f.console.pending_input() == 5);
    CHECK(f.rx.used_idx() == 0);
    CHECK(f.interrupt.used == 0);
    f.post_receive(0, 3);
    f.console.process_queue(ConsoleDevice::kReceiveQueue);
    REQUIRE(f.rx.used_idx() == 1);
    CHECK(f.get(kData, 3) == "hel");
    CHECK(f.console.pending_input() == 2);
    f.post_receive(1, 8);
    f.console.process_queue(ConsoleDevice::kReceiveQueue);
    REQUIRE(f.rx.used_idx() == 2);
    CHECK(f.rx.used(1).len == 2);
    CHECK(f.get(kData + 0x1000, 2) == "lo");
    CHECK(f.console.pending_input() == 0);
    CHECK(f.interrupt.used == 2);
}

TEST_CASE("virtio-console: input before DRIVER_OK goes to the buffers posted before it",
          "[virtio][console]") {
    ConsoleFixture f(false);
    f.post_receive(0, 8);
    CHECK(f.enqueue("early") == 5);
    CHECK(f.rx.used_idx() == 0);
    f.activate();
    REQUIRE(f.rx.used_idx() == 1);
    CHECK(f.get(kData, 5) == "early");
    CHECK(f.interrupt.used == 1);
}

TEST_CASE("virtio-console: pending input is bounded and pauses its source until there is room",
          "[virtio][console]") {
    ConsoleFixture f;
    std::string const big(ConsoleDevice::kMaxPendingInput + 10, 'x');
    CHECK(f.enqueue(big) == ConsoleDevice::kMaxPendingInput);
    CHECK(f.console.pending_input() == ConsoleDevice::kMaxPendingInput);
    CHECK(f.enqueue("more") == 0);
    CHECK(f.space_calls == 0);
    f.post_receive(0, 100);
    f.console.process_queue(ConsoleDevice::kReceiveQueue);
    CHECK(f.rx.used(0).len == 100);
    CHECK(f.space_calls == 1);  // room again: the source resumes
    CHECK(f.enqueue(std::string(200, 'y')) == 100);
    f.post_receive(1, 100);
    f.console.process_queue(ConsoleDevice::kReceiveQueue);
    CHECK(f.space_calls == 2);
    f.post_receive(2, 100);
    f.console.process_queue(ConsoleDevice::kReceiveQueue);
    CHECK(f.space_calls == 2);  // nothing was refused since
}

TEST_CASE("virtio-console: a receive chain without writable buffers gets nothing",
          "[virtio][console]") {
    ConsoleFixture f;
    f.put(kData, "....");
    f.rx.write_chain(0, {{kData, 4}});
    f.rx.publish(0);
    CHECK(f.enqueue("ab") == 2);
    REQUIRE(f.rx.used_idx() == 1);
    CHECK(f.rx.used(0).len == 0);
    CHECK(f.get(kData, 4) == "....");
    CHECK(f.console.pending_input() == 2);  // kept for the next buffer
    f.post_receive(1, 4);
    f.console.process_queue(ConsoleDevice::kReceiveQueue);
    REQUIRE(f.rx.used_idx() == 2);
    CHECK(f.get(kData + 0x1000, 2) == "ab");
}

TEST_CASE("virtio-console: the driver's notification suppression is respected",
          "[virtio][console]") {
    ConsoleFixture f;
    f.rx.set_avail_flags(kAvailNoInterrupt);
    f.tx.set_avail_flags(kAvailNoInterrupt);
    f.post_receive(0, 8);
    CHECK(f.enqueue("a") == 1);
    f.tx.write_chain(0, {{kData + 0x8000, 1}});
    f.tx.publish(0);
    f.console.process_queue(ConsoleDevice::kTransmitQueue);
    CHECK(f.rx.used_idx() == 1);
    CHECK(f.tx.used_idx() == 1);
    CHECK(f.interrupt.used == 0);
}

TEST_CASE("virtio-console: reset drops pending input and resumes a paused source",
          "[virtio][console]") {
    ConsoleFixture f;
    CHECK(f.enqueue(std::string(ConsoleDevice::kMaxPendingInput + 1, 'x')) ==
          ConsoleDevice::kMaxPendingInput);
    f.console.reset();
    CHECK(f.console.pending_input() == 0);
    CHECK(f.space_calls == 1);
    // Not active: input waits, queues are not touched.
    f.post_receive(0, 8);
    CHECK(f.enqueue("z") == 1);
    f.console.process_queue(ConsoleDevice::kReceiveQueue);
    f.tx.write_chain(0, {{kData, 4}});
    f.tx.publish(0);
    f.console.process_queue(ConsoleDevice::kTransmitQueue);
    CHECK(f.rx.used_idx() == 0);
    CHECK(f.tx.used_idx() == 0);
    CHECK(f.output.empty());
    f.console.process_queue(7);  // no such queue
}

TEST_CASE("virtio-console: a guest driver's set-up and a round trip through virtio-mmio",
          "[virtio][console][mmio]") {
    class CountingIrq final : public IrqLine {
    public:
        void trigger() override { ++count; }
        int count = 0;
    };
    GuestMemory memory = make_memory();
    auto irq = std::make_shared<CountingIrq>();
    std::string output;
    auto console = std::make_shared<ConsoleDevice>(
        [&output](std::span<uint8_t const> bytes) { output.append(bytes.begin(), bytes.end()); });
    MmioTransport transport(console, memory, irq);
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
    CHECK(read32(VIRTIO_MMIO_DEVICE_ID) == VIRTIO_ID_CONSOLE);
    CHECK(transport.queue_count() == 2);
    uint32_t status = VIRTIO_CONFIG_S_ACKNOWLEDGE | VIRTIO_CONFIG_S_DRIVER;
    write32(VIRTIO_MMIO_STATUS, status);
    write32(VIRTIO_MMIO_DRIVER_FEATURES_SEL, 1);
    write32(VIRTIO_MMIO_DRIVER_FEATURES, 1);  // VERSION_1
    status |= VIRTIO_CONFIG_S_FEATURES_OK;
    write32(VIRTIO_MMIO_STATUS, status);
    REQUIRE(read32(VIRTIO_MMIO_STATUS) == status);

    MockSplitQueue rx(memory, 8, 0x1000);
    MockSplitQueue tx(memory, 8, 0x2000);
    for (uint32_t index : {0u, 1u}) {
        MockSplitQueue const& mock = index == 0 ? rx : tx;
        write32(VIRTIO_MMIO_QUEUE_SEL, index);
        CHECK(read32(VIRTIO_MMIO_QUEUE_NUM_MAX) == ConsoleDevice::kQueueSize);
        write32(VIRTIO_MMIO_QUEUE_NUM, 8);
        write32(VIRTIO_MMIO_QUEUE_DESC_LOW, static_cast<uint32_t>(mock.config().desc_table));
        write32(VIRTIO_MMIO_QUEUE_AVAIL_LOW, static_cast<uint32_t>(mock.config().avail_ring));
        write32(VIRTIO_MMIO_QUEUE_USED_LOW, static_cast<uint32_t>(mock.config().used_ring));
        write32(VIRTIO_MMIO_QUEUE_READY, 1);
    }
    status |= VIRTIO_CONFIG_S_DRIVER_OK;
    write32(VIRTIO_MMIO_STATUS, status);
    REQUIRE(read32(VIRTIO_MMIO_STATUS) == status);

    rx.write_chain(0, {{kData, 64, true}});
    rx.publish(0);
    write32(VIRTIO_MMIO_QUEUE_NOTIFY, 0);
    std::string const typed = "ls\r";
    CHECK(console->enqueue_input(bytes_of(typed)) == 3);
    REQUIRE(rx.used_idx() == 1);
    CHECK(rx.used(0).len == 3);
    CHECK(irq->count == 1);

    REQUIRE(memory.write(GuestAddress{kData + 0x100}, bytes_of("ls\r\n")).has_value());
    tx.write_chain(0, {{kData + 0x100, 4}});
    tx.publish(0);
    write32(VIRTIO_MMIO_QUEUE_NOTIFY, 1);
    CHECK(output == "ls\r\n");
    CHECK(tx.used_idx() == 1);
    CHECK(irq->count == 2);

    write32(VIRTIO_MMIO_STATUS, 0);  // reset
    CHECK(console->enqueue_input(bytes_of(typed)) == 3);
    CHECK(rx.used_idx() == 1);  // not active: kept
    CHECK(console->pending_input() == 3);
}

// SPDX-License-Identifier: Apache-2.0
// The split virtqueue against a hostile driver: loops, bad indices, indirect tables, lengths,
// buffers outside RAM, index jumps; the used ring and notification suppression.
#include <catch2/catch.hpp>

#include <array>
#include <cstdint>

#include "devices/virtio/queue.h"
#include "tests/support/mock_split_queue.h"
#include "vmm/base/size.h"
#include "vmm/memory/guest_memory.h"

using namespace vmm;
using namespace vmm::devices::virtio;
using vmm::test::MockSplitQueue;

namespace {

constexpr uint64_t kRamSize = 1_MiB;
constexpr uint64_t kData = 0x10000;  // buffers go here, well past the rings
constexpr uint64_t kIndirectFeatures = 1ull << kFeatureIndirectDesc;
constexpr uint64_t kEventIdxFeatures = 1ull << kFeatureEventIdx;

GuestMemory make_memory(uint64_t size = kRamSize) {
    std::array<GuestMemory::RegionSpec, 1> const layout{{{GuestAddress{0}, size}}};
    auto memory = GuestMemory::create(layout);
    REQUIRE(memory.has_value());
    return std::move(*memory);
}

Queue make_queue(GuestMemory const& memory, MockSplitQueue const& mock,
                 uint64_t features = kIndirectFeatures) {
    auto queue = Queue::create(memory, mock.config(), mock.config().size, features);
    REQUIRE(queue.has_value());
    return std::move(*queue);
}

/// Pops a chain that must be malformed: nothing comes out, the head is returned with 0 bytes.
void check_malformed(Queue& queue, MockSplitQueue const& mock, uint16_t head, QueueError error) {
    uint16_t const used_before = mock.used_idx();
    CHECK_FALSE(queue.pop().has_value());
    CHECK_FALSE(queue.broken());
    REQUIRE(queue.last_error().has_value());
    CHECK(*queue.last_error() == error);
    REQUIRE(mock.used_idx() == static_cast<uint16_t>(used_before + 1));
    auto const used = mock.used(used_before);
    CHECK(used.id == head);
    CHECK(used.len == 0);
}

}  // namespace

TEST_CASE("virtio queue: a chain comes out as readable then writable buffers", "[virtio][queue]") {
    auto memory = make_memory();
    MockSplitQueue mock(memory, 16);
    auto queue = make_queue(memory, mock);
    CHECK_FALSE(queue.pop().has_value());  // empty ring

    mock.write_chain(3, {{kData, 100}, {kData + 100, 28}, {kData + 0x1000, 512, true}});
    mock.publish(3);
    auto chain = queue.pop();
    REQUIRE(chain.has_value());
    CHECK(chain->head == 3);
    REQUIRE(chain->readable.size() == 2);
    CHECK(chain->readable[0].address.value == kData);
    CHECK(chain->readable[0].length == 100);
    CHECK(chain->readable[1].address.value == kData + 100);
    REQUIRE(chain->writable.size() == 1);
    CHECK(chain->writable[0].address.value == kData + 0x1000);
    CHECK(chain->readable_bytes == 128);
    CHECK(chain->writable_bytes == 512);
    CHECK_FALSE(queue.pop().has_value());

    queue.push(3, 77);
    CHECK(mock.used_idx() == 1);
    CHECK(mock.used(0).id == 3);
    CHECK(mock.used(0).len == 77);
}

TEST_CASE("virtio queue: chains are taken in order and indices wrap at 65536", "[virtio][queue]") {
    auto memory = make_memory();
    MockSplitQueue mock(memory, 4);
    auto queue = make_queue(memory, mock);
    mock.write_chain(0, {{kData, 8, true}});
    mock.write_chain(1, {{kData + 8, 8, true}});
    for (uint32_t round = 0; round < 70000; ++round) {
        uint16_t const head = round % 2;
        mock.publish(head);
        auto chain = queue.pop();
        REQUIRE(chain.has_value());
        REQUIRE(chain->head == head);
        queue.push(head, round % 9);
    }
    CHECK(mock.used_idx() == static_cast<uint16_t>(70000));
    auto const last = mock.used(static_cast<uint16_t>(69999));
    CHECK(last.id == 1);
    CHECK(last.len == 69999 % 9);
}

TEST_CASE("virtio queue: malformed chains are returned unused and the queue goes on",
          "[virtio][queue]") {
    auto memory = make_memory();
    MockSplitQueue mock(memory, 16);
    auto queue = make_queue(memory, mock);
    uint64_t const table = kData + 0x8000;

    SECTION("a loop") {
        mock.set_desc(0, {kData, 8, kDescNext, 1});
        mock.set_desc(1, {kData, 8, kDescNext, 0});
        mock.publish(0);
        check_malformed(queue, mock, 0, QueueError::ChainTooLong);
    }
    SECTION("a descriptor chained to itself") {
        mock.set_desc(5, {kData, 8, kDescNext, 5});
        mock.publish(5);
        check_malformed(queue, mock, 5, QueueError::ChainTooLong);
    }
    SECTION("next beyond the table") {
        mock.set_desc(0, {kData, 8, kDescNext, 16});
        mock.publish(0);
        check_malformed(queue, mock, 0, QueueError::NextOutOfRange);
    }
    SECTION("a readable buffer after a writable one") {
        mock.write_chain(0, {{kData, 8, true}, {kData + 8, 8, false}});
        mock.publish(0);
        check_malformed(queue, mock, 0, QueueError::ReadableAfterWritable);
    }
    SECTION("a buffer past the end of RAM") {
        mock.write_chain(0, {{kRamSize - 8, 9, true}});
        mock.publish(0);
        check_malformed(queue, mock, 0, QueueError::BufferOutsideMemory);
    }
    SECTION("a buffer that wraps past UINT64_MAX") {
        mock.write_chain(0, {{UINT64_MAX - 7, 16, true}});
        mock.publish(0);
        check_malformed(queue, mock, 0, QueueError::BufferOutsideMemory);
    }
    SECTION("an indirect table with NEXT") {
        mock.set_desc(0, {table, 32, kDescIndirect | kDescNext, 1});
        mock.publish(0);
        check_malformed(queue, mock, 0, QueueError::IndirectWithNext);
    }
    SECTION("an indirect table whose length is not a multiple of 16") {
        mock.set_desc(0, {table, 24, kDescIndirect, 0});
        mock.publish(0);
        check_malformed(queue, mock, 0, QueueError::BadIndirectLength);
    }
    SECTION("an empty indirect table") {
        mock.set_desc(0, {table, 0, kDescIndirect, 0});
        mock.publish(0);
        check_malformed(queue, mock, 0, QueueError::BadIndirectLength);
    }
    SECTION("an indirect table outside RAM") {
        mock.set_desc(0, {kRamSize - 16, 32, kDescIndirect, 0});
        mock.publish(0);
        check_malformed(queue, mock, 0, QueueError::BufferOutsideMemory);
    }
    SECTION("an indirect table inside an indirect table") {
        mock.write(table, Descriptor{table + 64, 16, kDescIndirect, 0});
        mock.set_desc(0, {table, 16, kDescIndirect, 0});
        mock.publish(0);
        check_malformed(queue, mock, 0, QueueError::NestedIndirect);
    }
    SECTION("a loop inside an indirect table") {
        mock.write(table, Descriptor{kData, 8, kDescNext, 1});
        mock.write(table + 16, Descriptor{kData, 8, kDescNext, 0});
        mock.set_desc(0, {table, 32, kDescIndirect, 0});
        mock.publish(0);
        check_malformed(queue, mock, 0, QueueError::ChainTooLong);
    }
    SECTION("next beyond an indirect table") {
        mock.write(table, Descriptor{kData, 8, kDescNext, 2});
        mock.set_desc(0, {table, 32, kDescIndirect, 0});
        mock.publish(0);
        check_malformed(queue, mock, 0, QueueError::NextOutOfRange);
    }
    // The queue is still usable: a good chain published next comes out.
    mock.write_chain(10, {{kData, 16, true}});
    mock.publish(10);
    auto chain = queue.pop();
    REQUIRE(chain.has_value());
    CHECK(chain->head == 10);
    CHECK_FALSE(queue.broken());
}

TEST_CASE("virtio queue: indirect tables need the feature", "[virtio][queue]") {
    auto memory = make_memory();
    MockSplitQueue mock(memory, 8);
    auto queue = make_queue(memory, mock, /*features=*/0);
    uint64_t const table = kData + 0x8000;
    mock.write(table, Descriptor{kData, 8, 0, 0});
    mock.set_desc(0, {table, 16, kDescIndirect, 0});
    mock.publish(0);
    check_malformed(queue, mock, 0, QueueError::IndirectNotNegotiated);
}

TEST_CASE("virtio queue: an indirect table after direct descriptors forms one chain",
          "[virtio][queue]") {
    auto memory = make_memory();
    MockSplitQueue mock(memory, 8);
    auto queue = make_queue(memory, mock);
    uint64_t const table = kData + 0x8000;
    mock.write(table, Descriptor{kData + 0x100, 32, kDescNext, 2});
    mock.write(table + 16, Descriptor{0xdead, 99, 0, 0});  // not part of the chain
    mock.write(table + 32, Descriptor{kData + 0x200, 64, kDescWrite, 0});
    mock.set_desc(2, {kData, 16, kDescNext, 6});
    mock.set_desc(6, {table, 48, kDescIndirect | kDescWrite, 0});  // WRITE here is ignored
    mock.publish(2);
    auto chain = queue.pop();
    REQUIRE(chain.has_value());
    CHECK(chain->head == 2);
    REQUIRE(chain->readable.size() == 2);
    CHECK(chain->readable[0].address.value == kData);
    CHECK(chain->readable[1].address.value == kData + 0x100);
    REQUIRE(chain->writable.size() == 1);
    CHECK(chain->writable[0].length == 64);
    CHECK(chain->readable_bytes == 48);
    CHECK(chain->writable_bytes == 64);
}

TEST_CASE("virtio queue: zero-length buffers are dropped", "[virtio][queue]") {
    auto memory = make_memory();
    MockSplitQueue mock(memory, 8);
    auto queue = make_queue(memory, mock);
    // A zero-length buffer needs no valid address: nothing is ever read or written there.
    mock.write_chain(0, {{kData, 0}, {UINT64_MAX, 0, true}, {kData, 4, true}});
    mock.publish(0);
    auto chain = queue.pop();
    REQUIRE(chain.has_value());
    CHECK(chain->readable.empty());
    REQUIRE(chain->writable.size() == 1);
    CHECK(chain->writable_bytes == 4);
}

TEST_CASE("virtio queue: a chain longer than 4 GiB in total is refused", "[virtio][queue]") {
    // 256 descriptors of 16 MiB add up to exactly 2^32: one byte too many for a used length.
    constexpr uint64_t kBig = 16_MiB;
    auto memory = make_memory(kBig);
    MockSplitQueue mock(memory, 512);
    auto queue = make_queue(memory, mock);
    std::vector<MockSplitQueue::Buffer> buffers(256, {0, static_cast<uint32_t>(kBig), true});
    mock.write_chain(0, buffers);
    mock.publish(0);
    check_malformed(queue, mock, 0, QueueError::LengthOverflow);

    buffers.pop_back();  // 255 of them fit
    mock.write_chain(0, buffers);
    mock.publish(0);
    auto chain = queue.pop();
    REQUIRE(chain.has_value());
    CHECK(chain->writable_bytes == 255 * kBig);
}

TEST_CASE("virtio queue: an avail index jump breaks the queue for good", "[virtio][queue]") {
    auto memory = make_memory();
    MockSplitQueue mock(memory, 8);
    auto queue = make_queue(memory, mock);
    mock.write_chain(0, {{kData, 8, true}});

    SECTION("exactly the queue size is fine") {
        for (uint16_t slot = 0; slot < 8; ++slot) mock.publish(0);
        for (int i = 0; i < 8; ++i) REQUIRE(queue.pop().has_value());
        CHECK_FALSE(queue.pop().has_value());
        CHECK_FALSE(queue.broken());
    }
    SECTION("one more is not") {
        mock.set_avail_idx(9);
        CHECK_FALSE(queue.pop().has_value());
        CHECK(queue.broken());
        CHECK(queue.broken_reason() == QueueError::AvailIndexJump);
        mock.set_avail_idx(1);  // sticky: repairing the index does not help
        CHECK_FALSE(queue.pop().has_value());
        CHECK(queue.broken());
        CHECK(mock.used_idx() == 0);
    }
    SECTION("a head beyond the table") {
        mock.publish(8);
        CHECK_FALSE(queue.pop().has_value());
        CHECK(queue.broken_reason() == QueueError::HeadOutOfRange);
    }
}

TEST_CASE("virtio queue: set-up is checked against guest RAM", "[virtio][queue]") {
    auto memory = make_memory();
    MockSplitQueue mock(memory, 16);
    auto config = mock.config();
    auto check = [&](QueueConfig const& c, uint16_t max_size = 16) {
        auto queue = Queue::create(memory, c, max_size, 0);
        REQUIRE_FALSE(queue.has_value());
        return queue.error();
    };
    CHECK(Queue::create(memory, config, 16, 0).has_value());
    for (uint16_t size : {0, 3, 12, 32}) {
        auto c = config;
        c.size = size;
        CHECK(check(c) == QueueError::BadSize);
    }
    CHECK(check(config, 8) == QueueError::BadSize);
    auto c = config;
    c.desc_table += 8;
    CHECK(check(c) == QueueError::MisalignedRing);
    c = config;
    c.avail_ring += 1;
    CHECK(check(c) == QueueError::MisalignedRing);
    c = config;
    c.used_ring += 2;
    CHECK(check(c) == QueueError::MisalignedRing);
    c = config;
    c.used_ring = kRamSize - 64;  // 6 + 8 * 16 bytes do not fit
    CHECK(check(c) == QueueError::RingOutsideMemory);
    c = config;
    c.desc_table = UINT64_MAX - 15;
    CHECK(check(c) == QueueError::RingOutsideMemory);
    c = config;
    c.avail_ring = 2_GiB;
    CHECK(check(c) == QueueError::RingOutsideMemory);
}

TEST_CASE("virtio queue: NO_INTERRUPT suppresses notifications without EVENT_IDX",
          "[virtio][queue]") {
    auto memory = make_memory();
    MockSplitQueue mock(memory, 8);
    auto queue = make_queue(memory, mock);
    CHECK_FALSE(queue.should_notify());  // nothing returned yet
    queue.push(0, 1);
    CHECK(queue.should_notify());
    CHECK_FALSE(queue.should_notify());  // nothing new since
    mock.set_avail_flags(kAvailNoInterrupt);
    queue.push(1, 1);
    CHECK_FALSE(queue.should_notify());
}

TEST_CASE("virtio queue: EVENT_IDX notifies only when used_event is crossed", "[virtio][queue]") {
    auto memory = make_memory();
    MockSplitQueue mock(memory, 8);
    auto queue = make_queue(memory, mock, kEventIdxFeatures);
    mock.set_avail_flags(kAvailNoInterrupt);  // ignored with EVENT_IDX

    mock.set_used_event(0);  // "interrupt me after entry 0"
    queue.push(0, 1);        // used idx 0 -> 1 crosses it
    CHECK(queue.should_notify());

    mock.set_used_event(3);
    queue.push(0, 1);  // 1 -> 2: not yet
    CHECK_FALSE(queue.should_notify());
    queue.push(0, 1);
    queue.push(0, 1);  // 2 -> 4 passes 3
    CHECK(queue.should_notify());
    queue.push(0, 1);  // 4 -> 5: used_event 3 is behind
    CHECK_FALSE(queue.should_notify());

    // The device tells the driver where to notify next when it finds the ring empty.
    mock.write_chain(0, {{kData, 8, true}});
    mock.publish(0);
    mock.publish(0);
    REQUIRE(queue.pop().has_value());
    REQUIRE(queue.pop().has_value());
    CHECK_FALSE(queue.pop().has_value());
    CHECK(mock.avail_event() == 2);
}

TEST_CASE("virtio queue: a disabled queue finds nothing and writes nothing", "[virtio][queue]") {
    Queue queue;
    CHECK_FALSE(queue.enabled());
    CHECK_FALSE(queue.pop().has_value());
    queue.push(0, 1);
    CHECK_FALSE(queue.should_notify());
}

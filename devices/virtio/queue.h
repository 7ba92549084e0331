// SPDX-License-Identifier: Apache-2.0
// Queue: the device side of one split virtqueue (virtio 1.2 §2.7) in guest memory, written by a
// driver that may be hostile. Everything read from the guest is copied, then validated.
#pragma once

#include <cstdint>
#include <optional>
#include <string_view>
#include <vector>

#include "vmm/base/result.h"
#include "vmm/memory/guest_memory.h"

namespace vmm::devices::virtio {

// Ring layouts (virtio 1.2 §2.7.5, §2.7.6, §2.7.8). <linux/virtio_ring.h> does not compile as
// C++, so these are ours; all fields are little endian, as is the host.
struct Descriptor {
    uint64_t addr;
    uint32_t len;
    uint16_t flags;
    uint16_t next;
};
static_assert(sizeof(Descriptor) == 16 && alignof(Descriptor) == 8);

struct UsedElement {
    uint32_t id;   // head of the completed chain (u32 for padding reasons, §2.7.8)
    uint32_t len;  // bytes written into the chain's writable buffers
};
static_assert(sizeof(UsedElement) == 8);

inline constexpr uint16_t kDescNext = 1;          // VIRTQ_DESC_F_NEXT
inline constexpr uint16_t kDescWrite = 2;         // VIRTQ_DESC_F_WRITE: device writes, driver reads
inline constexpr uint16_t kDescIndirect = 4;      // VIRTQ_DESC_F_INDIRECT
inline constexpr uint16_t kAvailNoInterrupt = 1;  // VIRTQ_AVAIL_F_NO_INTERRUPT
inline constexpr uint32_t kFeatureIndirectDesc = 28;  // VIRTIO_F_INDIRECT_DESC
inline constexpr uint32_t kFeatureEventIdx = 29;      // VIRTIO_F_EVENT_IDX
/// The split ring's largest queue size (§2.7: "Queue Size ... maximum is 32768").
inline constexpr uint16_t kMaxQueueSize = 32768;

/// What the transport collected for one queue before DRIVER_OK.
struct QueueConfig {
    uint16_t size = 0;
    bool ready = false;
    uint64_t desc_table = 0;  // QueueDesc
    uint64_t avail_ring = 0;  // QueueDriver
    uint64_t used_ring = 0;   // QueueDevice
};

enum class QueueError : uint8_t {
    // set-up (at DRIVER_OK)
    BadSize,            // zero, not a power of two, or above the device's maximum
    MisalignedRing,     // §2.7: table 16, available ring 2, used ring 4 bytes
    RingOutsideMemory,  // a ring is not wholly inside guest RAM
    // a malformed chain: completed with 0 bytes written, the queue goes on
    ChainTooLong,           // more descriptors than the table holds: a loop
    NextOutOfRange,         // next >= table size
    IndirectNotNegotiated,  // INDIRECT without VIRTIO_F_INDIRECT_DESC
    NestedIndirect,         // INDIRECT inside an indirect table (§2.7.5.3.1)
    IndirectWithNext,       // INDIRECT together with NEXT (§2.7.5.3.1)
    BadIndirectLength,      // zero, not a multiple of 16, or above 65536 entries
    BufferOutsideMemory,    // a buffer or indirect table not wholly inside guest RAM
    LengthOverflow,         // the chain's buffers add up to more than 4 GiB - 1 (§2.7.5.2)
    ReadableAfterWritable,  // §2.7.4: readable buffers come first
    // sticky: the queue is broken until reset (DEVICE_NEEDS_RESET)
    AvailIndexJump,  // more new entries than the queue holds
    HeadOutOfRange,  // an available-ring entry >= queue size: no chain to return
    RingUnreadable,
};
std::string_view describe(QueueError error);

struct GuestBuffer {
    GuestAddress address;
    uint32_t length;
};

/// One validated chain: every buffer lies inside guest RAM, readable ones came first, and the
/// lengths add up without overflow. Zero-length buffers are dropped.
struct DescriptorChain {
    uint16_t head = 0;
    std::vector<GuestBuffer> readable;  // driver → device
    std::vector<GuestBuffer> writable;  // device → driver
    uint32_t readable_bytes = 0;
    uint32_t writable_bytes = 0;
};

class Queue {
public:
    /// A disabled queue (not made ready by the driver): pop() finds nothing.
    Queue() = default;
    /// Checks the driver's configuration against guest RAM. Features are the negotiated ones.
    static Result<Queue, QueueError> create(GuestMemory const& memory, QueueConfig const& config,
                                            uint16_t max_size, uint64_t features);

    bool enabled() const { return m_memory != nullptr; }
    uint16_t size() const { return m_size; }
    /// The used index published so far (wraps at 2^16): what the metrics count buffers by.
    uint16_t used_index() const { return m_next_used; }

    /// The next available chain; nullopt when the ring is empty or the queue is broken. A
    /// malformed chain is completed at once with 0 bytes written (the driver gets its buffers
    /// back), remembered in last_error(), and pop() goes on with the next entry.
    std::optional<DescriptorChain> pop();
    /// Returns a chain to the driver with the number of bytes written into it.
    void push(uint16_t head, uint32_t written);
    /// Whether the driver wants an interrupt for what was pushed since the last call:
    /// VIRTQ_AVAIL_F_NO_INTERRUPT, or with EVENT_IDX the used_event rule (§2.7.10).
    bool should_notify();

    /// Sticky: set by an avail index jump or an unusable head; cleared only by a new Queue.
    bool broken() const { return m_broken.has_value(); }
    std::optional<QueueError> broken_reason() const { return m_broken; }
    std::optional<QueueError> last_error() const { return m_last_error; }

private:
    std::optional<uint16_t> read_avail_idx();
    std::optional<QueueError> walk_chain(uint16_t head, DescriptorChain& chain);
    std::optional<QueueError> add_buffer(Descriptor const& desc, DescriptorChain& chain);
    std::optional<QueueError> walk_indirect(Descriptor const& table, DescriptorChain& chain);
    void set_broken(QueueError error);

    GuestMemory const* m_memory = nullptr;
    uint16_t m_size = 0;
    uint64_t m_desc_table = 0;
    uint64_t m_avail_ring = 0;
    uint64_t m_used_ring = 0;
    bool m_event_idx = false;
    bool m_indirect = false;
    uint16_t m_next_avail = 0;      // next available-ring entry to take
    uint16_t m_next_used = 0;       // next used-ring entry to fill (the used idx we publish)
    uint16_t m_signalled_used = 0;  // used idx when should_notify() last ran
    std::optional<QueueError> m_broken;
    std::optional<QueueError> m_last_error;
};

}  // namespace vmm::devices::virtio

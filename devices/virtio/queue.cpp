// SPDX-License-Identifier: Apache-2.0
// Split virtqueue: chain walking with every guest-controlled value bounded, used-ring updates
// and notification suppression. Barriers per virtio 1.2 §2.7.7 – §2.7.10 and §2.7.13.
#include "devices/virtio/queue.h"

#include <atomic>
#include <bit>

#include "vmm/base/log.h"

namespace vmm::devices::virtio {

namespace {
// Offsets inside the rings (§2.7.6, §2.7.8): flags and idx, then the ring, then the event field.
constexpr uint64_t kRingHeader = 4;
constexpr uint64_t kAvailIdx = 2;
constexpr uint64_t kUsedIdx = 2;
// An indirect table's next field is 16 bits: more entries could never be reached.
constexpr uint64_t kMaxIndirectEntries = 65536;

uint64_t avail_ring_bytes(uint16_t size) { return kRingHeader + 2ull * size + 2; }
uint64_t used_ring_bytes(uint16_t size) { return kRingHeader + 8ull * size + 2; }
}  // namespace

std::string_view describe(QueueError error) {
    switch (error) {
        case QueueError::BadSize: return "queue size is zero, not a power of two or too large";
        case QueueError::MisalignedRing: return "a ring is misaligned";
        case QueueError::RingOutsideMemory: return "a ring lies outside guest RAM";
        case QueueError::ChainTooLong: return "descriptor chain loops or is too long";
        case QueueError::NextOutOfRange: return "descriptor next index out of range";
        case QueueError::IndirectNotNegotiated: return "indirect descriptor not negotiated";
        case QueueError::NestedIndirect: return "nested indirect descriptor";
        case QueueError::IndirectWithNext: return "indirect descriptor with NEXT";
        case QueueError::BadIndirectLength: return "bad indirect table length";
        case QueueError::BufferOutsideMemory: return "buffer outside guest RAM";
        case QueueError::LengthOverflow: return "chain longer than 4 GiB";
        case QueueError::ReadableAfterWritable: return "readable buffer after a writable one";
        case QueueError::AvailIndexJump: return "available index moved by more than the size";
        case QueueError::HeadOutOfRange: return "available ring entry out of range";
        case QueueError::RingUnreadable: return "ring unreadable";
    }
    return "unknown queue error";
}

Result<Queue, QueueError> Queue::create(GuestMemory const& memory, QueueConfig const& config,
                                        uint16_t max_size, uint64_t features) {
    uint16_t const size = config.size;
    // Split rings have power-of-two sizes (§2.7); the index arithmetic below relies on it.
    if (size == 0 || !std::has_single_bit(size) || size > max_size || size > kMaxQueueSize)
        return std::unexpected(QueueError::BadSize);
    if (config.desc_table % 16 != 0 || config.avail_ring % 2 != 0 || config.used_ring % 4 != 0)
        return std::unexpected(QueueError::MisalignedRing);
    if (!memory.slice(GuestAddress{config.desc_table}, 16ull * size) ||
        !memory.slice(GuestAddress{config.avail_ring}, avail_ring_bytes(size)) ||
        !memory.slice(GuestAddress{config.used_ring}, used_ring_bytes(size)))
        return std::unexpected(QueueError::RingOutsideMemory);
    Queue queue;
    queue.m_memory = &memory;
    queue.m_size = size;
    queue.m_desc_table = config.desc_table;
    queue.m_avail_ring = config.avail_ring;
    queue.m_used_ring = config.used_ring;
    queue.m_event_idx = (features >> kFeatureEventIdx) & 1;
    queue.m_indirect = (features >> kFeatureIndirectDesc) & 1;
    return queue;
}

void Queue::set_broken(QueueError error) {
    static LogOnce logged;
    if (logged.first()) spdlog::warn("virtio queue broken: {}", describe(error));
    if (!m_broken) m_broken = error;
}

std::optional<uint16_t> Queue::read_avail_idx() {
    auto idx = m_memory->read_obj<uint16_t>(GuestAddress{m_avail_ring + kAvailIdx});
    if (!idx) {
        set_broken(QueueError::RingUnreadable);
        return std::nullopt;
    }
    if (static_cast<uint16_t>(*idx - m_next_avail) > m_size) {
        set_broken(QueueError::AvailIndexJump);
        return std::nullopt;
    }
    // Read barrier: ring entries and descriptors only after the index that published them.
    std::atomic_thread_fence(std::memory_order_acquire);
    return *idx;
}

std::optional<DescriptorChain> Queue::pop() {
    if (!enabled() || broken()) return std::nullopt;
    // Each malformed chain is completed and skipped; the bound keeps a guest that keeps adding
    // bad chains from holding this thread.
    for (uint32_t attempts = 0; attempts < m_size; ++attempts) {
        auto avail = read_avail_idx();
        if (!avail) return std::nullopt;
        if (*avail == m_next_avail) {
            if (!m_event_idx) return std::nullopt;
            // Ask to be notified at the next entry, then look again: a driver that added one
            // meanwhile may have read the old avail_event and skipped its notification.
            uint64_t const avail_event = m_used_ring + kRingHeader + 8ull * m_size;
            if (!m_memory->write_obj<uint16_t>(GuestAddress{avail_event}, m_next_avail)) {
                set_broken(QueueError::RingUnreadable);
                return std::nullopt;
            }
            std::atomic_thread_fence(std::memory_order_seq_cst);
            avail = read_avail_idx();
            if (!avail || *avail == m_next_avail) return std::nullopt;
        }
        uint64_t const slot = m_avail_ring + kRingHeader + 2ull * (m_next_avail & (m_size - 1));
        auto head = m_memory->read_obj<uint16_t>(GuestAddress{slot});
        if (!head) {
            set_broken(QueueError::RingUnreadable);
            return std::nullopt;
        }
        if (*head >= m_size) {
            set_broken(QueueError::HeadOutOfRange);
            return std::nullopt;
        }
        ++m_next_avail;
        DescriptorChain chain;
        chain.head = *head;
        auto error = walk_chain(*head, chain);
        if (!error) return chain;
        if (error == QueueError::RingUnreadable) {
            set_broken(*error);
            return std::nullopt;
        }
        static LogOnce logged;
        if (logged.first())
            spdlog::warn("virtio: malformed descriptor chain: {}", describe(*error));
        m_last_error = error;
        push(*head, 0);
    }
    return std::nullopt;
}

std::optional<QueueError> Queue::walk_chain(uint16_t head, DescriptorChain& chain) {
    uint16_t index = head;
    // A chain visits each descriptor at most once (§2.7.5.2), so it has at most size entries.
    for (uint32_t ttl = m_size; ttl > 0; --ttl) {
        auto desc = m_memory->read_obj<Descriptor>(GuestAddress{m_desc_table + 16ull * index});
        if (!desc) return QueueError::RingUnreadable;
        if (desc->flags & kDescIndirect) {
            if (!m_indirect) return QueueError::IndirectNotNegotiated;
            if (desc->flags & kDescNext) return QueueError::IndirectWithNext;
            return walk_indirect(*desc, chain);
        }
        if (auto error = add_buffer(*desc, chain)) return error;
        if (!(desc->flags & kDescNext)) return std::nullopt;
        if (desc->next >= m_size) return QueueError::NextOutOfRange;
        index = desc->next;
    }
    return QueueError::ChainTooLong;
}

std::optional<QueueError> Queue::walk_indirect(Descriptor const& table, DescriptorChain& chain) {
    // §2.7.5.3: the table is an array of descriptors; the WRITE flag on the descriptor that
    // points at it means nothing and is ignored.
    if (table.len == 0 || table.len % sizeof(Descriptor) != 0 ||
        table.len / sizeof(Descriptor) > kMaxIndirectEntries)
        return QueueError::BadIndirectLength;
    if (!m_memory->slice(GuestAddress{table.addr}, table.len))
        return QueueError::BufferOutsideMemory;
    uint32_t const count = table.len / sizeof(Descriptor);
    uint32_t index = 0;
    for (uint32_t ttl = count; ttl > 0; --ttl) {
        auto desc = m_memory->read_obj<Descriptor>(GuestAddress{table.addr + 16ull * index});
        if (!desc) return QueueError::BufferOutsideMemory;
        if (desc->flags & kDescIndirect) return QueueError::NestedIndirect;
        if (auto error = add_buffer(*desc, chain)) return error;
        if (!(desc->flags & kDescNext)) return std::nullopt;
        if (desc->next >= count) return QueueError::NextOutOfRange;
        index = desc->next;
    }
    return QueueError::ChainTooLong;
}

std::optional<QueueError> Queue::add_buffer(Descriptor const& desc, DescriptorChain& chain) {
    bool const writable = desc.flags & kDescWrite;
    // §2.7.4.1: all device-writable buffers come after the device-readable ones.
    if (!writable && (!chain.writable.empty() || chain.writable_bytes != 0))
        return QueueError::ReadableAfterWritable;
    uint64_t const total = uint64_t{chain.readable_bytes} + chain.writable_bytes + desc.len;
    if (total > UINT32_MAX) return QueueError::LengthOverflow;
    if (desc.len == 0) return std::nullopt;  // nothing to read or write; keep lists meaningful
    if (!m_memory->slice(GuestAddress{desc.addr}, desc.len)) return QueueError::BufferOutsideMemory;
    GuestBuffer const buffer{GuestAddress{desc.addr}, desc.len};
    if (writable) {
        chain.writable.push_back(buffer);
        chain.writable_bytes += desc.len;
    } else {
        chain.readable.push_back(buffer);
        chain.readable_bytes += desc.len;
    }
    return std::nullopt;
}

void Queue::push(uint16_t head, uint32_t written) {
    if (!enabled()) return;
    uint64_t const slot = m_used_ring + kRingHeader + 8ull * (m_next_used & (m_size - 1));
    if (!m_memory->write_obj(GuestAddress{slot}, UsedElement{head, written})) {
        set_broken(QueueError::RingUnreadable);
        return;
    }
    ++m_next_used;
    // Write barrier: the element must be visible before the index that publishes it (§2.7.8.2).
    std::atomic_thread_fence(std::memory_order_release);
    if (!m_memory->write_obj<uint16_t>(GuestAddress{m_used_ring + kUsedIdx}, m_next_used))
        set_broken(QueueError::RingUnreadable);
}

bool Queue::should_notify() {
    if (!enabled()) return false;
    // Full barrier: the used idx store must be visible before we read the driver's
    // suppression state, or both sides may decide not to act (§2.7.10).
    std::atomic_thread_fence(std::memory_order_seq_cst);
    uint16_t const old_used = m_signalled_used;
    uint16_t const new_used = m_next_used;
    m_signalled_used = new_used;
    if (m_event_idx) {
        uint64_t const used_event = m_avail_ring + kRingHeader + 2ull * m_size;
        auto event = m_memory->read_obj<uint16_t>(GuestAddress{used_event});
        if (!event) return true;
        // vring_need_event(): notify when used_event lies in [old_used, new_used).
        return static_cast<uint16_t>(new_used - *event - 1) <
               static_cast<uint16_t>(new_used - old_used);
    }
    if (new_used == old_used) return false;
    auto flags = m_memory->read_obj<uint16_t>(GuestAddress{m_avail_ring});
    return !flags || !(*flags & kAvailNoInterrupt);
}

}  // namespace vmm::devices::virtio

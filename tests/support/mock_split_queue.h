// SPDX-License-Identifier: Apache-2.0
// MockSplitQueue: plays the driver's side of a split virtqueue in a GuestMemory made by a test:
// lays out the descriptor table and both rings, writes descriptors, publishes chains and reads
// back what the device put in the used ring. Header-only; needs wisp_devices.
#pragma once

#include <cstdint>
#include <stdexcept>
#include <vector>

#include "devices/virtio/queue.h"
#include "devices/virtio/virtio_device.h"
#include "vmm/memory/guest_memory.h"

namespace vmm::test {

class MockSplitQueue {
public:
    struct Buffer {
        uint64_t address;
        uint32_t length;
        bool writable = false;
    };

    /// The rings go at `base`: descriptor table, then the available ring, then (4-aligned)
    /// the used ring.
    MockSplitQueue(GuestMemory const& memory, uint16_t size, uint64_t base = 0x1000)
        : m_memory(memory), m_size(size) {
        m_config.size = size;
        m_config.ready = true;
        m_config.desc_table = base;
        m_config.avail_ring = base + 16ull * size;
        m_config.used_ring = (m_config.avail_ring + 6 + 2ull * size + 3) & ~3ull;
    }

    devices::virtio::QueueConfig const& config() const { return m_config; }
    uint64_t end() const { return m_config.used_ring + 6 + 8ull * m_size; }

    void set_desc(uint16_t index, devices::virtio::Descriptor const& desc) const {
        write(m_config.desc_table + 16ull * index, desc);
    }
    /// Writes `buffers` as one chain in descriptors first, first + 1, ...; returns the head.
    uint16_t write_chain(uint16_t first, std::vector<Buffer> const& buffers) const {
        for (size_t i = 0; i < buffers.size(); ++i) {
            uint16_t flags = buffers[i].writable ? devices::virtio::kDescWrite : 0;
            if (i + 1 < buffers.size()) flags |= devices::virtio::kDescNext;
            set_desc(static_cast<uint16_t>(first + i),
                     {buffers[i].address, buffers[i].length, flags,
                      static_cast<uint16_t>(first + i + 1)});
        }
        return first;
    }
    /// Makes `head` available: ring entry, then the index.
    void publish(uint16_t head) {
        write<uint16_t>(m_config.avail_ring + 4 + 2ull * (m_avail_idx % m_size), head);
        set_avail_idx(++m_avail_idx);
    }
    void set_avail_idx(uint16_t idx) {
        m_avail_idx = idx;
        write<uint16_t>(m_config.avail_ring + 2, idx);
    }
    void set_avail_flags(uint16_t flags) const { write<uint16_t>(m_config.avail_ring, flags); }
    void set_used_event(uint16_t idx) const {
        write<uint16_t>(m_config.avail_ring + 4 + 2ull * m_size, idx);
    }

    uint16_t used_idx() const { return read<uint16_t>(m_config.used_ring + 2); }
    devices::virtio::UsedElement used(uint16_t slot) const {
        return read<devices::virtio::UsedElement>(m_config.used_ring + 4 + 8ull * (slot % m_size));
    }
    uint16_t avail_event() const { return read<uint16_t>(m_config.used_ring + 4 + 8ull * m_size); }

    template <GuestPod T>
    void write(uint64_t address, T const& value) const {
        auto r = m_memory.write_obj(GuestAddress{address}, value);
        if (!r) throw std::runtime_error("MockSplitQueue: write outside the test memory");
    }
    template <GuestPod T>
    T read(uint64_t address) const {
        auto r = m_memory.read_obj<T>(GuestAddress{address});
        if (!r) throw std::runtime_error("MockSplitQueue: read outside the test memory");
        return *r;
    }

private:
    GuestMemory const& m_memory;
    uint16_t m_size;
    uint16_t m_avail_idx = 0;
    devices::virtio::QueueConfig m_config;
};

/// A VirtioInterrupt that counts what the device signals.
class CountingInterrupt final : public devices::virtio::VirtioInterrupt {
public:
    void signal_used() override { ++used; }
    void signal_config_change() override { ++config; }
    int used = 0;
    int config = 0;
};

}  // namespace vmm::test

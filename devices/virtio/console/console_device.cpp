// SPDX-License-Identifier: Apache-2.0
// virtio-console: port 0 only (§5.3.6). The driver's transmitq chains carry output in their
// readable buffers; its receiveq chains are writable buffers the device fills with input.
#include "devices/virtio/console/console_device.h"

#include <linux/virtio_ids.h>

#include <algorithm>
#include <utility>

namespace vmm::devices::virtio {

uint32_t ConsoleDevice::device_id() const { return VIRTIO_ID_CONSOLE; }

Result<void> ConsoleDevice::activate(uint64_t, std::span<Queue> queues, GuestMemory const& memory,
                                     VirtioInterrupt& interrupt) {
    std::function<void()> wake;  // called once the lock is released
    {
        std::lock_guard guard(m_lock);
        m_queues = queues;
        m_memory = &memory;
        m_interrupt = &interrupt;
        // A driver fills the receiveq before DRIVER_OK, when its notifications are ignored:
        // input typed meanwhile goes out now, and so does anything already transmitted.
        transmit();
        if (receive()) wake = m_on_input_space;
    }
    if (wake) wake();
    return {};
}

void ConsoleDevice::process_queue(size_t index) {
    std::function<void()> wake;  // called once the lock is released
    {
        std::lock_guard guard(m_lock);
        if (index == kTransmitQueue) transmit();
        if (index == kReceiveQueue && receive()) wake = m_on_input_space;
    }
    if (wake) wake();
}

void ConsoleDevice::reset() {
    std::function<void()> wake;  // called once the lock is released
    {
        std::lock_guard guard(m_lock);
        m_queues = {};
        m_memory = nullptr;
        m_interrupt = nullptr;
        m_input.clear();
        m_output_chunk.clear();
        if (std::exchange(m_input_refused, false)) wake = m_on_input_space;
    }
    if (wake) wake();
}

size_t ConsoleDevice::enqueue_input(std::span<uint8_t const> bytes) {
    size_t taken = 0;
    std::function<void()> wake;  // called once the lock is released
    {
        std::lock_guard guard(m_lock);
        taken = std::min(bytes.size(), kMaxPendingInput - m_input.size());
        m_input.insert(m_input.end(), bytes.begin(), bytes.begin() + static_cast<ptrdiff_t>(taken));
        if (taken < bytes.size()) m_input_refused = true;
        if (receive()) wake = m_on_input_space;
    }
    if (wake) wake();
    return taken;
}

size_t ConsoleDevice::pending_input() const {
    std::lock_guard guard(m_lock);
    return m_input.size();
}

void ConsoleDevice::set_on_input_space(std::function<void()> callback) {
    std::lock_guard guard(m_lock);
    m_on_input_space = std::move(callback);
}

void ConsoleDevice::transmit() {
    if (!m_memory || kTransmitQueue >= m_queues.size()) return;
    Queue& queue = m_queues[kTransmitQueue];
    bool pushed = false;
    while (auto chain = queue.pop()) {
        // Writable buffers mean nothing here (§5.3.6.1: the driver sends only readable ones);
        // a chain with nothing readable completes without output.
        for (GuestBuffer const& buffer : chain->readable) {
            auto bytes = m_memory->slice(buffer.address, buffer.length);  // the queue checked
            if (bytes) emit(*bytes);
        }
        flush_output();
        queue.push(chain->head, 0);
        pushed = true;
    }
    if (pushed && queue.should_notify()) m_interrupt->signal_used();
}

bool ConsoleDevice::receive() {
    if (m_memory && kReceiveQueue < m_queues.size()) {
        Queue& queue = m_queues[kReceiveQueue];
        bool pushed = false;
        // Only while there is input: the guest's buffers wait in the ring until then.
        while (!m_input.empty()) {
            auto chain = queue.pop();
            if (!chain) break;
            queue.push(chain->head, fill(*chain));
            pushed = true;
        }
        if (pushed && queue.should_notify()) m_interrupt->signal_used();
    }
    if (!m_input_refused || m_input.size() >= kMaxPendingInput) return false;
    m_input_refused = false;
    return true;
}

uint32_t ConsoleDevice::fill(DescriptorChain const& chain) {
    // Readable buffers carry nothing for this device; a chain without writable ones completes
    // with 0 bytes and the input stays for the next chain.
    uint32_t written = 0;
    for (GuestBuffer const& buffer : chain.writable) {
        if (m_input.empty()) break;
        size_t const count = std::min<size_t>(buffer.length, m_input.size());
        auto bytes = m_memory->slice(buffer.address, count);  // the queue checked the range
        if (!bytes) break;
        auto const end = m_input.begin() + static_cast<ptrdiff_t>(count);
        std::copy(m_input.begin(), end, bytes->begin());
        m_input.erase(m_input.begin(), end);
        written += static_cast<uint32_t>(count);
    }
    return written;
}

void ConsoleDevice::emit(std::span<uint8_t const> bytes) {
    while (!bytes.empty()) {
        size_t const count = std::min(bytes.size(), kMaxOutputChunk - m_output_chunk.size());
        m_output_chunk.insert(m_output_chunk.end(), bytes.begin(),
                              bytes.begin() + static_cast<ptrdiff_t>(count));
        bytes = bytes.subspan(count);
        if (m_output_chunk.size() == kMaxOutputChunk) flush_output();
    }
}

void ConsoleDevice::flush_output() {
    if (!m_output_chunk.empty() && m_output) m_output(m_output_chunk);
    m_output_chunk.clear();
}

}  // namespace vmm::devices::virtio

// SPDX-License-Identifier: Apache-2.0
// virtio-rng: each request is one chain of writable buffers, filled from getrandom(2); the used
// length says how many bytes are random (§5.4.6).
#include "devices/virtio/rng/rng_device.h"

#include <linux/virtio_ids.h>
#include <sys/random.h>

#include <algorithm>
#include <cerrno>

#include <spdlog/spdlog.h>

#include "vmm/base/log.h"

namespace vmm::devices::virtio {

namespace {
/// Fills data from the kernel's CSPRNG; returns the bytes filled (all, short of a failure).
size_t fill_random(std::span<uint8_t> data) {
    size_t done = 0;
    while (done < data.size()) {
        ssize_t n = ::getrandom(data.data() + done, data.size() - done, 0);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) {
            static LogOnce failed;
            if (failed.first()) spdlog::warn("virtio-rng: getrandom failed (errno {})", errno);
            break;
        }
        done += static_cast<size_t>(n);
    }
    return done;
}
}  // namespace

uint32_t RngDevice::device_id() const { return VIRTIO_ID_RNG; }

Result<void> RngDevice::activate(uint64_t, std::span<Queue> queues, GuestMemory const& memory,
                                 VirtioInterrupt& interrupt) {
    m_queues = queues;
    m_memory = &memory;
    m_interrupt = &interrupt;
    return {};
}

void RngDevice::process_queue(size_t index) {
    if (index >= m_queues.size() || !m_memory) return;
    Queue& queue = m_queues[index];
    while (auto chain = queue.pop()) queue.push(chain->head, fill(*chain));
    if (queue.should_notify()) m_interrupt->signal_used();
}

uint32_t RngDevice::fill(DescriptorChain const& chain) {
    // Readable buffers carry nothing for this device (§5.4.6.1: the driver sends none); a
    // chain without writable ones completes with 0 bytes.
    uint32_t written = 0;
    for (GuestBuffer const& buffer : chain.writable) {
        uint32_t const want = std::min(buffer.length, kMaxBytesPerRequest - written);
        if (want == 0) break;
        auto bytes = m_memory->slice(buffer.address, want);  // the queue checked the range
        if (!bytes) break;
        size_t const got = fill_random(*bytes);
        written += static_cast<uint32_t>(got);
        if (got < want) break;
    }
    return written;
}

void RngDevice::reset() {
    m_queues = {};
    m_memory = nullptr;
    m_interrupt = nullptr;
}

}  // namespace vmm::devices::virtio

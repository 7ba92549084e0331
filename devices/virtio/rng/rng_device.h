// SPDX-License-Identifier: Apache-2.0
// RngDevice: virtio-rng (virtio 1.2 §5.4), the entropy device. The smallest virtio device and
// the one to copy: one queue, no features, no config space.
#pragma once

#include <array>
#include <cstdint>
#include <span>

#include "devices/virtio/virtio_device.h"

namespace vmm::devices::virtio {

class RngDevice final : public VirtioDevice {
public:
    static constexpr uint16_t kQueueSize = 256;
    /// At most this many bytes per request, so one hostile request (a chain covering all of
    /// guest RAM) cannot hold the event loop; the driver sees the shorter length and asks again.
    static constexpr uint32_t kMaxBytesPerRequest = 64 * 1024;

    uint32_t device_id() const override;
    uint64_t features() const override { return 0; }
    std::span<uint16_t const> queue_max_sizes() const override { return kQueueSizes; }

    Result<void> activate(uint64_t features, std::span<Queue> queues, GuestMemory const& memory,
                          VirtioInterrupt& interrupt) override;
    void process_queue(size_t index) override;
    void reset() override;

private:
    static constexpr std::array<uint16_t, 1> kQueueSizes{kQueueSize};
    uint32_t fill(DescriptorChain const& chain);

    std::span<Queue> m_queues;
    GuestMemory const* m_memory = nullptr;
    VirtioInterrupt* m_interrupt = nullptr;
};

}  // namespace vmm::devices::virtio

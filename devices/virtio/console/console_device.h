// SPDX-License-Identifier: Apache-2.0
// ConsoleDevice: virtio-console (virtio 1.2 §5.3) with one port (hvc0 in Linux): transmitq
// bytes go to an output sink, host input waits in a bounded buffer for the guest's receiveq.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <functional>
#include <mutex>
#include <span>
#include <vector>

#include "devices/virtio/virtio_device.h"

namespace vmm::devices::virtio {

class ConsoleDevice final : public VirtioDevice {
public:
    static constexpr uint16_t kQueueSize = 256;
    static constexpr size_t kReceiveQueue = 0;   // receiveq: host -> guest
    static constexpr size_t kTransmitQueue = 1;  // transmitq: guest -> host
    /// Host input kept while the guest has no receive buffers; beyond it enqueue_input() takes
    /// nothing, so the input source pauses (back-pressure).
    static constexpr size_t kMaxPendingInput = 64 * 1024;
    /// Transmitted bytes reach the sink in pieces of at most this size, so a chain covering
    /// much of guest RAM is not copied whole.
    static constexpr size_t kMaxOutputChunk = 64 * 1024;

    using OutputSink = std::function<void(std::span<uint8_t const>)>;

    explicit ConsoleDevice(OutputSink output) : m_output(std::move(output)) {}

    uint32_t device_id() const override;
    /// No SIZE, MULTIPORT or EMERG_WRITE: no configuration space either.
    uint64_t features() const override { return 0; }
    std::span<uint16_t const> queue_max_sizes() const override { return kQueueSizes; }

    Result<void> activate(uint64_t features, std::span<Queue> queues, GuestMemory const& memory,
                          VirtioInterrupt& interrupt) override;
    void process_queue(size_t index) override;
    /// Drops the pending input too.
    void reset() override;

    /// Host input for the guest (from the event loop, outside the transport's lock: the device
    /// has its own). Returns how many bytes were taken: fewer than given once kMaxPendingInput
    /// bytes wait.
    size_t enqueue_input(std::span<uint8_t const> bytes);
    size_t pending_input() const;
    /// Called once there is room again after enqueue_input() took less than it was given, so a
    /// paused input source can resume. Called without the device's lock held.
    void set_on_input_space(std::function<void()> callback);

private:
    static constexpr std::array<uint16_t, 2> kQueueSizes{kQueueSize, kQueueSize};
    void transmit();
    /// Fills the guest's receive buffers from the pending input; returns whether a paused
    /// source should now be told there is room.
    bool receive();
    uint32_t fill(DescriptorChain const& chain);
    void emit(std::span<uint8_t const> bytes);
    void flush_output();

    OutputSink m_output;
    mutable std::mutex m_lock;
    std::function<void()> m_on_input_space;
    std::deque<uint8_t> m_input;
    bool m_input_refused = false;  // enqueue_input() took less than given; nobody told since
    std::vector<uint8_t> m_output_chunk;
    std::span<Queue> m_queues;
    GuestMemory const* m_memory = nullptr;
    VirtioInterrupt* m_interrupt = nullptr;
};

}  // namespace vmm::devices::virtio

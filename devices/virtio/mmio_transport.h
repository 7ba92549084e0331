// SPDX-License-Identifier: Apache-2.0
// MmioTransport: the virtio-mmio version 2 register window (virtio 1.2 §4.2.2) in front of one
// VirtioDevice: feature negotiation, the device status machine, queue set-up and interrupts.
#pragma once

#include <array>
#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <span>
#include <vector>

#include "devices/virtio/queue.h"
#include "devices/virtio/virtio_device.h"
#include "vmm/base/bus.h"
#include "vmm/base/irq_line.h"
#include "vmm/base/log.h"
#include "vmm/memory/guest_memory.h"

namespace vmm::devices::virtio {

/// What a transport counts for the metrics (relaxed atomics; read from any thread).
struct TransportCounters {
    std::atomic<uint64_t> notifications{0};   // queue notifications served (DRIVER_OK)
    std::atomic<uint64_t> interrupts{0};      // interrupts raised: used buffers and config
    std::atomic<uint64_t> config_changes{0};  // of which configuration-change interrupts
    std::atomic<uint64_t> used_buffers{0};    // chains returned to the driver
};

class MmioTransport final : public BusDevice, private VirtioInterrupt {
public:
    /// Registers up to 0x100, device configuration space from 0x100 (§4.2.2).
    static constexpr uint64_t kWindowSize = 0x200;
    static constexpr uint64_t kConfigOffset = 0x100;
    static constexpr uint64_t kQueueNotifyOffset = 0x50;  // VIRTIO_MMIO_QUEUE_NOTIFY
    static constexpr uint32_t kMagic = 0x74726976;        // "virt"
    static constexpr uint32_t kVersion = 2;
    /// VendorID: the bytes "WISP" read as a little-endian u32. The spec gives it no meaning
    /// for the driver (Linux only prints it); it names who implements the device.
    static constexpr uint32_t kVendorId = 0x50534957;
    static constexpr uint32_t kInterruptUsed = 1;    // VIRTIO_MMIO_INT_VRING
    static constexpr uint32_t kInterruptConfig = 2;  // VIRTIO_MMIO_INT_CONFIG
    static constexpr uint32_t kDriverOkBit = 4;      // VIRTIO_CONFIG_S_DRIVER_OK

    MmioTransport(std::shared_ptr<VirtioDevice> device, GuestMemory const& memory,
                  std::shared_ptr<IrqLine> irq);

    /// Called from vCPU threads.
    void read(uint64_t offset, std::span<uint8_t> data) override;
    void write(uint64_t offset, std::span<uint8_t const> data) override;

    /// The driver notified queue `index`: normally from the QueueNotify ioeventfd on the event
    /// loop; a QueueNotify write that reaches the bus comes here too. Ignored unless DRIVER_OK.
    void notify(uint32_t index);

    /// One of the device's host event sources is ready (from the event loop): runs the
    /// device's process_host_event() under the transport's lock, then checks the queues as
    /// notify() does.
    void host_event(size_t index, uint32_t events);

    /// Runs `change` on the device under the transport's lock (so no queue work or config access
    /// runs meanwhile) and then, if the driver is running the device (DRIVER_OK), raises a
    /// configuration-change interrupt (§4.2.3.3): how a host-side change (a new disk size)
    /// reaches the driver. `change` returns false when it changed nothing.
    template <typename Change>
    bool change_config(Change&& change) {
        std::lock_guard guard(m_lock);
        if (!change(*m_device)) return false;
        if (m_status & kDriverOkBit) signal_config_change();
        return true;
    }

    TransportCounters const& counters() const { return m_counters; }
    VirtioDevice const& device() const { return *m_device; }

    uint32_t queue_count() const { return static_cast<uint32_t>(m_queue_configs.size()); }
    /// Feature bits offered to the driver.
    uint64_t offered_features() const { return m_offered_features; }
    uint32_t status() const;

private:
    uint32_t read_register(uint64_t offset);
    void write_register(uint64_t offset, uint32_t value);
    void access_config(uint64_t offset, std::span<uint8_t> read_data,
                       std::span<uint8_t const> write_data);
    void write_status(uint32_t value);
    bool features_acceptable() const;
    void activate();
    void reset();
    void needs_reset();
    /// After device work: a queue the driver broke puts the device in DEVICE_NEEDS_RESET.
    void check_queues();
    QueueConfig* selected_queue();
    /// The used index of each queue (the first kCountedQueues), before device work.
    static constexpr size_t kCountedQueues = 8;
    std::array<uint16_t, kCountedQueues> used_indices() const;
    void count_used(std::array<uint16_t, kCountedQueues> const& before);

    void signal_used() override;
    void signal_config_change() override;

    std::shared_ptr<VirtioDevice> m_device;
    GuestMemory const& m_memory;
    std::shared_ptr<IrqLine> m_irq;
    uint64_t const m_offered_features;
    std::vector<uint16_t> const m_queue_max_sizes;

    mutable std::mutex m_lock;
    uint32_t m_status = 0;
    uint32_t m_device_features_sel = 0;
    uint32_t m_driver_features_sel = 0;
    uint64_t m_driver_features = 0;
    uint32_t m_queue_sel = 0;
    uint32_t m_shm_sel = 0;
    std::vector<QueueConfig> m_queue_configs;
    std::vector<Queue> m_queues;  // built at DRIVER_OK, cleared by reset
    bool m_active = false;
    std::atomic<uint32_t> m_interrupt_status{0};
    std::atomic<uint32_t> m_config_generation{0};
    TransportCounters m_counters;

    LogOnce m_bad_access_logged;    // a register access that is not 32 bits wide and aligned
    LogOnce m_bad_config_logged;    // a config access outside the device's config space
    LogOnce m_driver_error_logged;  // a status or register write out of order
    LogOnce m_refused_logged;       // features or queues refused
};

}  // namespace vmm::devices::virtio

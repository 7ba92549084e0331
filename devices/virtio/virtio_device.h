// SPDX-License-Identifier: Apache-2.0
// VirtioDevice: what a virtio device implements (its id, features, config space and queue work);
// the transport does feature negotiation, the status machine, queue set-up and interrupts.
#pragma once

#include <algorithm>
#include <cstdint>
#include <span>
#include <vector>

#include "devices/virtio/queue.h"
#include "vmm/base/result.h"
#include "vmm/memory/guest_memory.h"

namespace vmm::devices::virtio {

/// How a device tells the driver about its work; implemented by the transport. Thread-safe.
class VirtioInterrupt {
public:
    virtual ~VirtioInterrupt() = default;
    /// Used buffers were returned (InterruptStatus bit 0). Call when Queue::should_notify().
    virtual void signal_used() = 0;
    /// The device's configuration space changed (bit 1, and a new ConfigGeneration).
    virtual void signal_config_change() = 0;
};

/// A host file descriptor a device wants watched on the event loop (an io_uring's completion
/// eventfd, a tap): `events` are epoll flags (EPOLLIN, EPOLLOUT, EPOLLET, ...).
struct HostEventSource {
    int fd;
    uint32_t events;
};

/// The transport calls every method with its own lock held, one call at a time, so a device
/// needs no lock for state it touches only here. Calls come from vCPU threads (config space)
/// and from the event-loop thread (queue notifications); never block on host I/O in them.
class VirtioDevice {
public:
    virtual ~VirtioDevice() = default;

    /// virtio 1.2 §5: VIRTIO_ID_* from <linux/virtio_ids.h>.
    virtual uint32_t device_id() const = 0;
    /// Device-specific feature bits. The transport adds VERSION_1, INDIRECT_DESC and EVENT_IDX.
    virtual uint64_t features() const = 0;
    /// One entry per queue: its largest size (a power of two, at most 32768).
    virtual std::span<uint16_t const> queue_max_sizes() const = 0;

    /// Bytes of device configuration space (at most 256: the window ends at 0x200).
    virtual uint32_t config_size() const { return 0; }
    /// The access lies inside [0, config_size()): the transport checked.
    virtual void read_config(uint32_t offset, std::span<uint8_t> data) {
        (void)offset;
        std::ranges::fill(data, uint8_t{0});
    }
    virtual void write_config(uint32_t offset, std::span<uint8_t const> data) {
        (void)offset;
        (void)data;
    }

    /// DRIVER_OK: features are the negotiated ones; queues has one entry per queue (those the
    /// driver did not make ready are disabled). All stay valid until reset(). An error refuses
    /// activation: the transport sets DEVICE_NEEDS_RESET.
    virtual Result<void> activate(uint64_t features, std::span<Queue> queues,
                                  GuestMemory const& memory, VirtioInterrupt& interrupt) = 0;
    /// The driver notified queue `index` (< queue count) of new buffers.
    virtual void process_queue(size_t index) = 0;
    /// The driver reset the device: forget the queues, memory and interrupt from activate().
    /// Work still in flight (asynchronous I/O) is finished or cancelled before this returns:
    /// after a reset the device must not touch guest memory.
    virtual void reset() = 0;

    /// Host fds to watch for as long as the device exists; asked once, after construction.
    virtual std::vector<HostEventSource> host_event_sources() const { return {}; }
    /// Source `index` (into host_event_sources()) is ready with `events`. Called on the
    /// event-loop thread with the transport's lock held, whether or not the device is active:
    /// a device that is not active drains or ignores the source itself.
    virtual void process_host_event(size_t index, uint32_t events) {
        (void)index;
        (void)events;
    }
};

}  // namespace vmm::devices::virtio

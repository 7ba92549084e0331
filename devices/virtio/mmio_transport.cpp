// SPDX-License-Identifier: Apache-2.0
// virtio-mmio register model (virtio 1.2 §4.2.2, §4.2.3) and the device status machine (§2.1,
// §3.1.1). Guest mistakes are logged once and ignored, or end in DEVICE_NEEDS_RESET.
#include "devices/virtio/mmio_transport.h"

#include <linux/virtio_config.h>
#include <linux/virtio_mmio.h>

#include <algorithm>
#include <cstring>

#include <spdlog/spdlog.h>

namespace vmm::devices::virtio {

namespace {
constexpr uint32_t kDriverStatusBits = VIRTIO_CONFIG_S_ACKNOWLEDGE | VIRTIO_CONFIG_S_DRIVER |
                                       VIRTIO_CONFIG_S_FEATURES_OK | VIRTIO_CONFIG_S_DRIVER_OK |
                                       VIRTIO_CONFIG_S_FAILED;
constexpr uint64_t kTransportFeatures =
    (1ull << VIRTIO_F_VERSION_1) | (1ull << kFeatureIndirectDesc) | (1ull << kFeatureEventIdx);
// §4.2.2: "a length of ~0 (all ones)" says the selected shared memory region does not exist.
constexpr uint32_t kNoSharedMemory = 0xffff'ffff;
static_assert(MmioTransport::kDriverOkBit == VIRTIO_CONFIG_S_DRIVER_OK);

void set_low(uint64_t& field, uint32_t value) { field = (field & ~0xffff'ffffull) | value; }
void set_high(uint64_t& field, uint32_t value) {
    field = (field & 0xffff'ffffull) | (uint64_t{value} << 32);
}
}  // namespace

MmioTransport::MmioTransport(std::shared_ptr<VirtioDevice> device, GuestMemory const& memory,
                             std::shared_ptr<IrqLine> irq)
    : m_device(std::move(device)),
      m_memory(memory),
      m_irq(std::move(irq)),
      m_offered_features(m_device->features() | kTransportFeatures),
      m_queue_max_sizes(m_device->queue_max_sizes().begin(), m_device->queue_max_sizes().end()),
      m_queue_configs(m_queue_max_sizes.size()) {}

uint32_t MmioTransport::status() const {
    std::lock_guard guard(m_lock);
    return m_status;
}

void MmioTransport::read(uint64_t offset, std::span<uint8_t> data) {
    std::ranges::fill(data, uint8_t{0});
    if (offset >= kWindowSize || data.size() > kWindowSize - offset) return;
    std::lock_guard guard(m_lock);
    if (offset >= kConfigOffset) {
        access_config(offset - kConfigOffset, data, {});
        return;
    }
    // §4.2.2.2: the driver uses only 32-bit wide, aligned accesses for the registers.
    if (data.size() != 4 || offset % 4 != 0) {
        if (m_bad_access_logged.first())
            spdlog::warn("virtio-mmio: {}-byte read at {:#x} ignored", data.size(), offset);
        return;
    }
    uint32_t const value = read_register(offset);
    std::memcpy(data.data(), &value, sizeof value);
}

void MmioTransport::write(uint64_t offset, std::span<uint8_t const> data) {
    if (offset >= kWindowSize || data.size() > kWindowSize - offset) return;
    if (offset < kConfigOffset && (data.size() != 4 || offset % 4 != 0)) {
        if (m_bad_access_logged.first())
            spdlog::warn("virtio-mmio: {}-byte write at {:#x} ignored", data.size(), offset);
        return;
    }
    if (offset == kQueueNotifyOffset) {
        // Without an ioeventfd (or for a value it does not match) the write lands here.
        uint32_t index;
        std::memcpy(&index, data.data(), sizeof index);
        notify(index);
        return;
    }
    std::lock_guard guard(m_lock);
    if (offset >= kConfigOffset) {
        access_config(offset - kConfigOffset, {}, data);
        return;
    }
    uint32_t value;
    std::memcpy(&value, data.data(), sizeof value);
    write_register(offset, value);
}

uint32_t MmioTransport::read_register(uint64_t offset) {
    QueueConfig const* queue = selected_queue();
    switch (offset) {
        case VIRTIO_MMIO_MAGIC_VALUE: return kMagic;
        case VIRTIO_MMIO_VERSION: return kVersion;
        case VIRTIO_MMIO_DEVICE_ID: return m_device->device_id();
        case VIRTIO_MMIO_VENDOR_ID: return kVendorId;
        case VIRTIO_MMIO_DEVICE_FEATURES:
            if (m_device_features_sel > 1) return 0;
            return static_cast<uint32_t>(m_offered_features >> (32 * m_device_features_sel));
        case VIRTIO_MMIO_QUEUE_NUM_MAX: return queue ? m_queue_max_sizes[m_queue_sel] : 0;
        case VIRTIO_MMIO_QUEUE_READY: return queue && queue->ready ? 1 : 0;
        case VIRTIO_MMIO_INTERRUPT_STATUS: return m_interrupt_status.load();
        case VIRTIO_MMIO_STATUS: return m_status;
        case VIRTIO_MMIO_SHM_LEN_LOW:
        case VIRTIO_MMIO_SHM_LEN_HIGH:
        case VIRTIO_MMIO_SHM_BASE_LOW:
        case VIRTIO_MMIO_SHM_BASE_HIGH: return kNoSharedMemory;
        case VIRTIO_MMIO_CONFIG_GENERATION: return m_config_generation.load();
        default: return 0;  // write-only registers and holes read as zero
    }
}

void MmioTransport::write_register(uint64_t offset, uint32_t value) {
    switch (offset) {
        case VIRTIO_MMIO_DEVICE_FEATURES_SEL: m_device_features_sel = value; return;
        case VIRTIO_MMIO_DRIVER_FEATURES_SEL: m_driver_features_sel = value; return;
        case VIRTIO_MMIO_DRIVER_FEATURES:
            // Fixed once FEATURES_OK is set (§3.1.1); only words 0 and 1 exist.
            if ((m_status & VIRTIO_CONFIG_S_FEATURES_OK) || m_driver_features_sel > 1) {
                if (m_driver_error_logged.first())
                    spdlog::warn("virtio-mmio: DriverFeatures write ignored");
                return;
            }
            if (m_driver_features_sel == 0)
                set_low(m_driver_features, value);
            else
                set_high(m_driver_features, value);
            return;
        case VIRTIO_MMIO_QUEUE_SEL: m_queue_sel = value; return;
        case VIRTIO_MMIO_INTERRUPT_ACK: m_interrupt_status.fetch_and(~value); return;
        case VIRTIO_MMIO_STATUS: write_status(value); return;
        case VIRTIO_MMIO_SHM_SEL: m_shm_sel = value; return;
        default: break;
    }
    // The queue registers: §4.2.2.3, the driver writes them only while the queue is not ready
    // (and so before DRIVER_OK); later writes are ignored.
    switch (offset) {
        case VIRTIO_MMIO_QUEUE_NUM:
        case VIRTIO_MMIO_QUEUE_READY:
        case VIRTIO_MMIO_QUEUE_DESC_LOW:
        case VIRTIO_MMIO_QUEUE_DESC_HIGH:
        case VIRTIO_MMIO_QUEUE_AVAIL_LOW:
        case VIRTIO_MMIO_QUEUE_AVAIL_HIGH:
        case VIRTIO_MMIO_QUEUE_USED_LOW:
        case VIRTIO_MMIO_QUEUE_USED_HIGH: break;
        default: return;  // read-only registers and holes
    }
    QueueConfig* queue = selected_queue();
    if (!queue || (m_status & VIRTIO_CONFIG_S_DRIVER_OK) ||
        (queue->ready && offset != VIRTIO_MMIO_QUEUE_READY)) {
        if (m_driver_error_logged.first())
            spdlog::warn("virtio-mmio: queue register {:#x} write ignored (queue {})", offset,
                         m_queue_sel);
        return;
    }
    switch (offset) {
        case VIRTIO_MMIO_QUEUE_NUM:
            // Out of the 16-bit range: remembered as 0, which activation refuses.
            queue->size = value <= kMaxQueueSize ? static_cast<uint16_t>(value) : 0;
            return;
        case VIRTIO_MMIO_QUEUE_READY:
            if (value <= 1) queue->ready = value == 1;
            return;
        case VIRTIO_MMIO_QUEUE_DESC_LOW: set_low(queue->desc_table, value); return;
        case VIRTIO_MMIO_QUEUE_DESC_HIGH: set_high(queue->desc_table, value); return;
        case VIRTIO_MMIO_QUEUE_AVAIL_LOW: set_low(queue->avail_ring, value); return;
        case VIRTIO_MMIO_QUEUE_AVAIL_HIGH: set_high(queue->avail_ring, value); return;
        case VIRTIO_MMIO_QUEUE_USED_LOW: set_low(queue->used_ring, value); return;
        case VIRTIO_MMIO_QUEUE_USED_HIGH: set_high(queue->used_ring, value); return;
        default: return;
    }
}

void MmioTransport::access_config(uint64_t offset, std::span<uint8_t> read_data,
                                  std::span<uint8_t const> write_data) {
    size_t const size = read_data.empty() ? write_data.size() : read_data.size();
    bool const width_ok = size == 1 || size == 2 || size == 4 || size == 8;
    if (!width_ok || !range_contains(0, m_device->config_size(), offset, size)) {
        if (m_bad_config_logged.first())
            spdlog::warn("virtio-mmio: {}-byte config access at {:#x} outside the config space "
                         "({} bytes)",
                         size, offset, m_device->config_size());
        return;
    }
    // An 8-byte access is two 4-byte ones, low half first, as a driver would do them.
    size_t const step = std::min<size_t>(size, 4);
    for (size_t done = 0; done < size; done += step) {
        uint32_t const at = static_cast<uint32_t>(offset + done);
        if (!read_data.empty())
            m_device->read_config(at, read_data.subspan(done, step));
        else
            m_device->write_config(at, write_data.subspan(done, step));
    }
}

void MmioTransport::write_status(uint32_t value) {
    if (value == 0) {
        reset();
        return;
    }
    // A driver that reads, ORs and writes back the status also writes our NEEDS_RESET.
    value &= ~uint32_t{VIRTIO_CONFIG_S_NEEDS_RESET};
    uint32_t const current = m_status & kDriverStatusBits;
    // §2.1.2: the driver only adds bits; clearing any of them takes a reset (a write of 0).
    bool const valid = (value & ~kDriverStatusBits) == 0 && (current & ~value) == 0 &&
                       !(current & VIRTIO_CONFIG_S_FAILED);
    if (!valid) {
        if (m_driver_error_logged.first())
            spdlog::warn("virtio-mmio: status {:#x} after {:#x} ignored", value, m_status);
        return;
    }
    uint32_t const added = value & ~current;
    if (added & VIRTIO_CONFIG_S_FAILED) {
        m_status |= VIRTIO_CONFIG_S_FAILED;  // the driver gave up; it will reset
        return;
    }
    // §3.1.1's order; several steps in one write are taken in that order.
    struct Step {
        uint32_t bit;
        uint32_t needs;
    };
    static constexpr Step kSteps[] = {
        {VIRTIO_CONFIG_S_ACKNOWLEDGE, 0},
        {VIRTIO_CONFIG_S_DRIVER, VIRTIO_CONFIG_S_ACKNOWLEDGE},
        {VIRTIO_CONFIG_S_FEATURES_OK, VIRTIO_CONFIG_S_DRIVER},
        {VIRTIO_CONFIG_S_DRIVER_OK, VIRTIO_CONFIG_S_FEATURES_OK},
    };
    for (Step const& step : kSteps) {
        if (!(added & step.bit)) continue;
        if ((m_status & step.needs) != step.needs) {
            if (m_driver_error_logged.first())
                spdlog::warn("virtio-mmio: status bit {:#x} set before {:#x}", step.bit,
                             step.needs);
            return;
        }
        if (step.bit == VIRTIO_CONFIG_S_FEATURES_OK && !features_acceptable()) {
            // FEATURES_OK stays clear; the driver reads it back and gives up (§3.1.1 step 6).
            if (m_refused_logged.first())
                spdlog::warn("virtio-mmio: features {:#x} refused (offered {:#x})",
                             m_driver_features, m_offered_features);
            return;
        }
        m_status |= step.bit;
        if (step.bit == VIRTIO_CONFIG_S_DRIVER_OK) activate();
    }
}

bool MmioTransport::features_acceptable() const {
    // Nothing we did not offer, and no legacy interface: VERSION_1 is required (§6.1).
    return (m_driver_features & ~m_offered_features) == 0 &&
           (m_driver_features & (1ull << VIRTIO_F_VERSION_1)) != 0;
}

void MmioTransport::activate() {
    m_queues.clear();
    m_queues.reserve(m_queue_configs.size());
    for (size_t i = 0; i < m_queue_configs.size(); ++i) {
        QueueConfig const& config = m_queue_configs[i];
        if (!config.ready) {
            m_queues.emplace_back();
            continue;
        }
        auto queue = Queue::create(m_memory, config, m_queue_max_sizes[i], m_driver_features);
        if (!queue) {
            if (m_refused_logged.first())
                spdlog::warn("virtio-mmio: device {} queue {} refused: {}", m_device->device_id(),
                             i, describe(queue.error()));
            m_queues.clear();
            needs_reset();
            return;
        }
        m_queues.push_back(std::move(*queue));
    }
    auto activated = m_device->activate(m_driver_features, m_queues, m_memory, *this);
    if (!activated) {
        spdlog::warn("virtio-mmio: device {} not activated: {}", m_device->device_id(),
                     activated.error());
        m_queues.clear();
        needs_reset();
        return;
    }
    m_active = true;
}

void MmioTransport::needs_reset() {
    m_status |= VIRTIO_CONFIG_S_NEEDS_RESET;
    // §2.1.2: with DRIVER_OK set, the device tells the driver through a config change.
    if (m_status & VIRTIO_CONFIG_S_DRIVER_OK) signal_config_change();
}

void MmioTransport::reset() {
    // §2.4: everything back to its initial state; the generation counter keeps counting.
    m_device->reset();
    m_active = false;
    m_queues.clear();
    m_status = 0;
    m_device_features_sel = 0;
    m_driver_features_sel = 0;
    m_driver_features = 0;
    m_queue_sel = 0;
    m_shm_sel = 0;
    std::ranges::fill(m_queue_configs, QueueConfig{});
    m_interrupt_status.store(0);
}

void MmioTransport::notify(uint32_t index) {
    std::lock_guard guard(m_lock);
    if (!m_active || (m_status & VIRTIO_CONFIG_S_NEEDS_RESET) || index >= m_queues.size()) return;
    m_counters.notifications.fetch_add(1, std::memory_order_relaxed);
    auto const before = used_indices();
    m_device->process_queue(index);
    count_used(before);
    check_queues();
}

void MmioTransport::host_event(size_t index, uint32_t events) {
    std::lock_guard guard(m_lock);
    auto const before = used_indices();
    m_device->process_host_event(index, events);
    count_used(before);
    if (m_active && !(m_status & VIRTIO_CONFIG_S_NEEDS_RESET)) check_queues();
}

std::array<uint16_t, MmioTransport::kCountedQueues> MmioTransport::used_indices() const {
    std::array<uint16_t, kCountedQueues> indices{};
    for (size_t i = 0; i < m_queues.size() && i < kCountedQueues; ++i)
        indices[i] = m_queues[i].used_index();
    return indices;
}

void MmioTransport::count_used(std::array<uint16_t, kCountedQueues> const& before) {
    // The used index only moves forward (mod 2^16) while the queues live; a reset during the
    // work empties m_queues and counts nothing.
    uint64_t used = 0;
    for (size_t i = 0; i < m_queues.size() && i < kCountedQueues; ++i)
        used += static_cast<uint16_t>(m_queues[i].used_index() - before[i]);
    if (used != 0) m_counters.used_buffers.fetch_add(used, std::memory_order_relaxed);
}

void MmioTransport::check_queues() {
    for (Queue const& queue : m_queues) {
        if (!queue.broken()) continue;
        spdlog::warn("virtio-mmio: device {} needs reset: {}", m_device->device_id(),
                     describe(*queue.broken_reason()));
        needs_reset();
        return;
    }
}

QueueConfig* MmioTransport::selected_queue() {
    return m_queue_sel < m_queue_configs.size() ? &m_queue_configs[m_queue_sel] : nullptr;
}

void MmioTransport::signal_used() {
    m_counters.interrupts.fetch_add(1, std::memory_order_relaxed);
    m_interrupt_status.fetch_or(kInterruptUsed);
    m_irq->trigger();
}

void MmioTransport::signal_config_change() {
    m_counters.interrupts.fetch_add(1, std::memory_order_relaxed);
    m_counters.config_changes.fetch_add(1, std::memory_order_relaxed);
    m_config_generation.fetch_add(1);
    m_interrupt_status.fetch_or(kInterruptConfig);
    m_irq->trigger();
}

}  // namespace vmm::devices::virtio

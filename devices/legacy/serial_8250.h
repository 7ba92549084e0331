// SPDX-License-Identifier: Apache-2.0
// Serial8250: a 16550A-compatible UART (the PC's COM1), enough for Linux's 8250 driver and
// early console. Transmission is instant; received bytes wait in a 64-byte FIFO.
#pragma once

#include <atomic>
#include <cstdint>
#include <deque>
#include <functional>
#include <mutex>
#include <span>

#include "vmm/base/bus.h"
#include "vmm/base/irq_line.h"

namespace vmm::devices {

class Serial8250 final : public BusDevice {
public:
    static constexpr uint16_t kCom1Port = 0x3f8;
    static constexpr uint32_t kCom1Irq = 4;
    static constexpr uint64_t kRegisterCount = 8;
    static constexpr size_t kFifoSize = 64;

    using OutputSink = std::function<void(std::span<uint8_t const>)>;

    Serial8250(IrqLine& irq, OutputSink output) : m_irq(irq), m_output(std::move(output)) {}

    void read(uint64_t offset, std::span<uint8_t> data) override;
    void write(uint64_t offset, std::span<uint8_t const> data) override;

    /// Queues host input for the guest; returns how many bytes fit in the FIFO.
    size_t enqueue_input(std::span<uint8_t const> bytes);
    size_t input_space() const;
    /// Called (from a vCPU thread) when the guest empties the receive FIFO, so a paused input
    /// source can resume.
    void set_on_input_space(std::function<void()> callback);

    /// Bytes the guest transmitted (THR, not loopback) and received (RBR), for the metrics.
    uint64_t bytes_transmitted() const { return m_transmitted.load(std::memory_order_relaxed); }
    uint64_t bytes_received() const { return m_received.load(std::memory_order_relaxed); }

private:
    uint8_t read_register(uint64_t offset);
    void write_register(uint64_t offset, uint8_t value);
    uint8_t interrupt_identification() const;
    void raise_if_new();
    bool interrupt_pending() const;
    bool dlab() const { return (m_lcr & 0x80) != 0; }
    bool loopback() const { return (m_mcr & 0x10) != 0; }

    IrqLine& m_irq;
    OutputSink m_output;
    std::function<void()> m_on_input_space;
    mutable std::mutex m_lock;
    std::atomic<uint64_t> m_transmitted{0};
    std::atomic<uint64_t> m_received{0};
    std::deque<uint8_t> m_rx;
    uint8_t m_ier = 0;
    uint8_t m_lcr = 0x03;  // 8N1
    uint8_t m_mcr = 0x08;  // OUT2
    uint8_t m_scr = 0;
    uint8_t m_fcr = 0;
    uint8_t m_dll = 0x0c;  // 9600 baud
    uint8_t m_dlm = 0;
    bool m_thr_empty_pending = false;  // THRE interrupt condition (cleared by reading IIR)
    bool m_new_condition = false;      // set by the access that created a condition
};

}  // namespace vmm::devices

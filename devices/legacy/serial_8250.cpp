// SPDX-License-Identifier: Apache-2.0
// Serial8250 register model. Register layout and IIR priorities per the National
// Semiconductor PC16550D data sheet.
#include "devices/legacy/serial_8250.h"

#include <algorithm>

namespace vmm::devices {

namespace {
constexpr uint8_t kIerRxData = 0x01;
constexpr uint8_t kIerThrEmpty = 0x02;
constexpr uint8_t kIerMask = 0x0f;
constexpr uint8_t kIirNone = 0x01;
constexpr uint8_t kIirThrEmpty = 0x02;
constexpr uint8_t kIirRxData = 0x04;
constexpr uint8_t kIirFifoEnabled = 0xc0;
constexpr uint8_t kFcrEnable = 0x01;
constexpr uint8_t kFcrClearRx = 0x02;
constexpr uint8_t kLsrDataReady = 0x01;
constexpr uint8_t kLsrThrEmpty = 0x20;
constexpr uint8_t kLsrIdle = 0x40;
constexpr uint8_t kMsrCts = 0x10, kMsrDsr = 0x20, kMsrRi = 0x40, kMsrDcd = 0x80;
constexpr uint8_t kMcrDtr = 0x01, kMcrRts = 0x02, kMcrOut1 = 0x04, kMcrOut2 = 0x08;
}  // namespace

void Serial8250::read(uint64_t offset, std::span<uint8_t> data) {
    // Byte registers: a wider access reads the first register and zero for the rest.
    std::fill(data.begin(), data.end(), 0);
    if (data.empty() || offset >= kRegisterCount) return;
    bool notify_space = false;
    {
        std::lock_guard guard(m_lock);
        bool const had_rx = !m_rx.empty();
        data[0] = read_register(offset);
        notify_space = had_rx && m_rx.empty();
        raise_if_new();
    }
    if (notify_space && m_on_input_space) m_on_input_space();
}

void Serial8250::write(uint64_t offset, std::span<uint8_t const> data) {
    if (data.empty() || offset >= kRegisterCount) return;
    bool notify_space = false;
    {
        std::lock_guard guard(m_lock);
        bool const had_rx = !m_rx.empty();
        write_register(offset, data[0]);
        notify_space = had_rx && m_rx.empty();  // FCR clear-RX emptied the FIFO
        raise_if_new();
    }
    if (notify_space && m_on_input_space) m_on_input_space();
}

uint8_t Serial8250::read_register(uint64_t offset) {
    switch (offset) {
        case 0:
            if (dlab()) return m_dll;
            if (m_rx.empty()) return 0;
            {
                uint8_t byte = m_rx.front();
                m_rx.pop_front();
                m_received.fetch_add(1, std::memory_order_relaxed);
                return byte;
            }
        case 1: return dlab() ? m_dlm : m_ier;
        case 2: {
            uint8_t iir = interrupt_identification();
            // Reading IIR while it reports THRE clears that condition (16550D data sheet).
            if ((iir & 0x0f) == kIirThrEmpty) m_thr_empty_pending = false;
            return iir;
        }
        case 3: return m_lcr;
        case 4: return m_mcr;
        case 5: {
            uint8_t lsr = kLsrThrEmpty | kLsrIdle;
            if (!m_rx.empty()) lsr |= kLsrDataReady;
            return lsr;
        }
        case 6:
            if (loopback()) {
                uint8_t msr = 0;
                if (m_mcr & kMcrDtr) msr |= kMsrDsr;
                if (m_mcr & kMcrRts) msr |= kMsrCts;
                if (m_mcr & kMcrOut1) msr |= kMsrRi;
                if (m_mcr & kMcrOut2) msr |= kMsrDcd;
                return msr;
            }
            return kMsrDcd | kMsrDsr | kMsrCts;
        case 7: return m_scr;
        default: return 0;
    }
}

void Serial8250::write_register(uint64_t offset, uint8_t value) {
    switch (offset) {
        case 0:
            if (dlab()) {
                m_dll = value;
                return;
            }
            if (loopback()) {
                if (m_rx.size() < kFifoSize) m_rx.push_back(value);
            } else {
                m_transmitted.fetch_add(1, std::memory_order_relaxed);
                if (m_output) m_output(std::span<uint8_t const>(&value, 1));
            }
            m_thr_empty_pending = true;  // the byte left at once: THR is empty again
            m_new_condition = true;
            return;
        case 1:
            if (dlab()) {
                m_dlm = value;
                return;
            }
            // Enabling THRE interrupts while THR is empty raises one (Linux's 8250 driver
            // relies on this to start transmission).
            if ((value & kIerThrEmpty) && !(m_ier & kIerThrEmpty)) m_thr_empty_pending = true;
            if ((value & ~m_ier) & (kIerThrEmpty | kIerRxData)) m_new_condition = true;
            m_ier = value & kIerMask;
            return;
        case 2:
            m_fcr = value;
            if (value & kFcrClearRx) m_rx.clear();
            return;
        case 3: m_lcr = value; return;
        case 4: m_mcr = value & 0x1f; return;
        case 5:
        case 6: return;  // LSR and MSR are read-only
        case 7: m_scr = value; return;
        default: return;
    }
}

uint8_t Serial8250::interrupt_identification() const {
    uint8_t const fifo = (m_fcr & kFcrEnable) ? kIirFifoEnabled : 0;
    if ((m_ier & kIerRxData) && !m_rx.empty()) return kIirRxData | fifo;
    if ((m_ier & kIerThrEmpty) && m_thr_empty_pending) return kIirThrEmpty | fifo;
    return kIirNone | fifo;
}

bool Serial8250::interrupt_pending() const { return (interrupt_identification() & kIirNone) == 0; }

void Serial8250::raise_if_new() {
    // The line is edge-triggered (irqfd): signal once for each new condition (a byte sent,
    // a byte received, an interrupt enabled) that leaves an interrupt pending; never for a
    // plain register read, so a polling guest cannot cause an interrupt storm.
    if (m_new_condition && interrupt_pending()) m_irq.trigger();
    m_new_condition = false;
}

size_t Serial8250::enqueue_input(std::span<uint8_t const> bytes) {
    std::lock_guard guard(m_lock);
    size_t const taken = std::min(bytes.size(), kFifoSize - m_rx.size());
    m_rx.insert(m_rx.end(), bytes.begin(), bytes.begin() + static_cast<ptrdiff_t>(taken));
    if (taken > 0) m_new_condition = true;
    raise_if_new();
    return taken;
}

size_t Serial8250::input_space() const {
    std::lock_guard guard(m_lock);
    return kFifoSize - m_rx.size();
}

void Serial8250::set_on_input_space(std::function<void()> callback) {
    std::lock_guard guard(m_lock);
    m_on_input_space = std::move(callback);
}

}  // namespace vmm::devices

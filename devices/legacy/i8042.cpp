// SPDX-License-Identifier: Apache-2.0
// I8042 controller model. Commands and bits per the Intel 8042 / IBM PS/2 keyboard controller
// documentation; the answers are chosen so that Linux 6.1's i8042 driver (drivers/input/serio/
// i8042.c) finds a controller with a keyboard port and no aux port, without waiting on a timeout.
#include "devices/legacy/i8042.h"

#include <algorithm>

#include "vmm/base/log.h"

namespace vmm::devices {

namespace {
constexpr uint8_t kOutputPortReset = 0x01;  // 0 holds the CPU in reset
LogOnce g_unknown_command;
}  // namespace

void I8042::read(uint64_t offset, std::span<uint8_t> data) {
    // Byte registers: a wider access reads the first register and zero for the rest.
    std::ranges::fill(data, uint8_t{0});
    if (data.empty()) return;
    std::lock_guard guard(m_lock);
    switch (offset) {
        case kDataOffset: data[0] = read_data(); break;
        case kCommandOffset: data[0] = status(); break;
        default: data[0] = 0xff; break;  // 0x62, 0x63: nothing there
    }
}

void I8042::write(uint64_t offset, std::span<uint8_t const> data) {
    if (data.empty() || (offset != kDataOffset && offset != kCommandOffset)) return;
    Effects effects;
    {
        std::lock_guard guard(m_lock);
        bool const was_raised = irq_level();
        if (offset == kCommandOffset)
            write_command(data[0], effects);
        else
            write_data(data[0], effects);
        effects.irq = !was_raised && irq_level();
    }
    if (effects.irq) m_irq.trigger();
    if (effects.reset && m_on_reset) m_on_reset();
}

uint8_t I8042::status() const {
    // The input buffer is consumed at once, so IBF never shows; no byte is ever aux data.
    uint8_t s = kStatusUnlocked;
    if (m_output_full) s |= kStatusOutputFull;
    if (m_output_full && m_output_timeout) s |= kStatusTimeout;
    if (m_ram[0] & kCtrSystem) s |= kStatusSystem;
    if (m_last_write_command) s |= kStatusCommand;
    return s;
}

uint8_t I8042::read_data() {
    // An empty buffer reads its last byte again, as the latch on the chip does.
    m_output_full = false;
    m_output_timeout = false;
    return m_output;
}

void I8042::push_output(uint8_t value, bool timeout) {
    // One output buffer: a byte the guest did not read is replaced by the next one.
    m_output = value;
    m_output_full = true;
    m_output_timeout = timeout;
}

bool I8042::irq_level() const {
    // IRQ 1 follows "output buffer full" while the keyboard interrupt is enabled; the line is
    // an edge (irqfd), so write() signals only when this turns true. IRQ 12 (aux) never
    // would: no byte is ever aux data.
    return m_output_full && (m_ram[0] & kCtrKeyboardInterrupt) != 0;
}

void I8042::write_command(uint8_t command, Effects& effects) {
    m_last_write_command = true;
    m_pending = 0;  // a new command abandons one still waiting for its data byte
    if (command >= 0x20 && command <= 0x3f) {  // read controller RAM; 0x20 is the CTR
        push_output(m_ram[command & 0x1f]);
        return;
    }
    if (command >= 0x60 && command <= 0x7f) {  // write controller RAM: the data byte follows
        m_pending = command;
        return;
    }
    if (command >= 0xf0) {
        // Pulse output port bits 0-3 low where the command's bits are 0; bit 0 is the CPU reset
        // line (0xFE is the usual request; 0xFF, which Linux sends for SMM firmware, does
        // nothing).
        if ((command & 0x01) == 0) effects.reset = true;
        return;
    }
    switch (command) {
        case kCommandAuxDisable: m_ram[0] |= kCtrAuxDisabled; return;
        case kCommandAuxEnable: m_ram[0] &= ~kCtrAuxDisabled; return;
        // A non-zero, non-0xFA/0xFF answer makes Linux's i8042_check_aux() give up on the aux
        // port at once, rather than after its 250 ms IRQ 12 delivery test.
        case kCommandAuxTest: push_output(kAuxTestFailed); return;
        case kCommandSelfTest:
            m_ram[0] |= kCtrSystem;
            push_output(kSelfTestPassed);
            return;
        case kCommandKeyboardTest: push_output(0x00); return;  // clock and data lines fine
        case kCommandKeyboardDisable: m_ram[0] |= kCtrKeyboardDisabled; return;
        case kCommandKeyboardEnable: m_ram[0] &= ~kCtrKeyboardDisabled; return;
        case kCommandReadOutputPort: push_output(m_output_port); return;
        case kCommandWriteOutputPort:
        case kCommandWriteKeyboardBuffer:
        case kCommandWriteAuxBuffer:
        case kCommandWriteAux: m_pending = command; return;
        default:
            // Multiplexer (0x90-0x93), input port (0xC0-0xC2) and vendor commands.
            if (g_unknown_command.first())
                spdlog::warn("i8042: ignoring controller command {:#04x} (logged once)", command);
            return;
    }
}

void I8042::write_data(uint8_t value, Effects& effects) {
    m_last_write_command = false;
    uint8_t const command = m_pending;
    m_pending = 0;
    if (command >= 0x60 && command <= 0x7f) {
        m_ram[command & 0x1f] = value;
        return;
    }
    switch (command) {
        case kCommandWriteOutputPort:
            m_output_port = value;
            if ((value & kOutputPortReset) == 0) effects.reset = true;
            return;
        case kCommandWriteKeyboardBuffer: push_output(value); return;
        // There is no aux channel, so the loop-back byte comes back as keyboard data: Linux
        // reads that as "no aux port" without waiting. Bytes for the aux device go nowhere.
        case kCommandWriteAuxBuffer: push_output(value); return;
        case kCommandWriteAux: return;
        default:
            // A byte for the keyboard, and no keyboard: the controller gives up waiting for its
            // clock and reports 0xFE with the timeout bit. atkbd takes 0xFE as a NAK and fails
            // its probe at once; the timeout flag keeps serio from rescanning the port.
            push_output(kNoDevice, true);
            return;
    }
}

}  // namespace vmm::devices

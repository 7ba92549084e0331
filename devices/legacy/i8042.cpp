// SPDX-License-Identifier: Apache-2.0
// I8042 controller model. Commands and bits per the Intel 8042 / IBM PS/2 keyboard controller
// documentation; the answers are chosen so that Linux 6.1's i8042 driver (drivers/input/serio/
// i8042.c) finds a controller with a keyboard port and no aux port, without waiting on a
// timeout, and its atkbd driver finds an MF2 keyboard there at once.
#include "devices/legacy/i8042.h"

#include <algorithm>

#include "vmm/base/log.h"

namespace vmm::devices {

namespace {
constexpr uint8_t kOutputPortReset = 0x01;  // 0 holds the CPU in reset
LogOnce g_unknown_command;

// Scan code set 2 prefixes.
constexpr uint8_t kExtended = 0xe0;
constexpr uint8_t kBreak = 0xf0;  // set 2: the next code is a release

// The controller's set 2 -> set 1 translation, for the keys the host presses. Set 1 marks a
// release with bit 7 where set 2 sends the F0 prefix.
uint8_t translate_code(uint8_t set2) {
    switch (set2) {
        case 0x14: return 0x1d;  // left Ctrl
        case 0x11: return 0x38;  // left Alt
        case 0x71: return 0x53;  // Delete (after E0)
        default: return set2;    // not reached: only the codes above are ever pressed
    }
}

// What the scan-code-set query (F0 00) answers: the set number, or its translation.
uint8_t set_number_byte(int set, bool translate) {
    if (!translate) return static_cast<uint8_t>(set);
    return set == 1 ? 0x43 : set == 2 ? 0x41 : 0x3f;
}
}  // namespace

std::vector<uint8_t> I8042::ctrl_alt_del_bytes(int set, bool translate) {
    if (set == 1)
        return {0x1d, 0x38, kExtended, 0x53, kExtended, 0xd3, 0xb8, 0x9d};
    std::vector<uint8_t> const set2{0x14,      0x11,   kExtended, 0x71,   kExtended,
                                    kBreak,    0x71,   kBreak,    0x11,   kBreak,
                                    0x14};
    if (!translate) return set2;
    std::vector<uint8_t> out;
    bool release = false;
    for (uint8_t byte : set2) {
        if (byte == kBreak) {
            release = true;
            continue;
        }
        if (byte == kExtended) {
            out.push_back(byte);
            continue;
        }
        out.push_back(static_cast<uint8_t>(translate_code(byte) | (release ? 0x80 : 0)));
        release = false;
    }
    return out;
}

Result<void> I8042::press_ctrl_alt_del() {
    bool irq = false;
    {
        std::lock_guard guard(m_lock);
        if (!m_scanning)
            return fail(ErrorKind::Usage,
                        "the guest's keyboard is disabled (its driver has not enabled scanning "
                        "yet, or has turned it off): try again once the guest has booted");
        bool const translate = (m_ram[0] & kCtrTranslate) != 0 && m_scan_code_set == 2;
        auto const bytes = ctrl_alt_del_bytes(m_scan_code_set, translate);
        if (m_keyboard.size() + bytes.size() > kKeyboardBuffer)
            return fail(ErrorKind::Usage,
                        "the guest is not reading its keyboard (the keyboard buffer is full): "
                        "try again later, or stop the guest another way");
        m_keyboard.insert(m_keyboard.end(), bytes.begin(), bytes.end());
        irq = feed_output() && irq_level();
    }
    if (irq) m_irq.trigger();
    return {};
}

void I8042::read(uint64_t offset, std::span<uint8_t> data) {
    // Byte registers: a wider access reads the first register and zero for the rest.
    std::ranges::fill(data, uint8_t{0});
    if (data.empty()) return;
    bool irq = false;
    {
        std::lock_guard guard(m_lock);
        switch (offset) {
            case kDataOffset:
                data[0] = read_data();
                // The next keyboard byte follows at once, with its own interrupt edge (Linux's
                // handler reads one byte per interrupt).
                irq = feed_output() && irq_level();
                break;
            case kCommandOffset: data[0] = status(); break;
            default: data[0] = 0xff; break;  // 0x62, 0x63: nothing there
        }
    }
    if (irq) m_irq.trigger();
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
        feed_output();  // a keyboard answer, or a keyboard port just enabled
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
        default: keyboard_receive(value); return;
    }
}

bool I8042::feed_output() {
    // The keyboard's clock is held (nothing sent) while CTR bit 4 disables its interface.
    if (m_output_full || m_keyboard.empty() || (m_ram[0] & kCtrKeyboardDisabled)) return false;
    push_output(m_keyboard.front());
    m_keyboard.pop_front();
    return true;
}

void I8042::keyboard_answer(std::initializer_list<uint8_t> bytes) {
    // An answer goes ahead of any scan codes still waiting, as a keyboard sends it at once;
    // the buffer stays bounded (oldest scan codes dropped first).
    m_keyboard.insert(m_keyboard.begin(), bytes);
    while (m_keyboard.size() > kKeyboardBuffer) m_keyboard.pop_back();
    m_keyboard_last = *(bytes.end() - 1);
}

void I8042::keyboard_receive(uint8_t value) {
    uint8_t const command = m_keyboard_pending;
    m_keyboard_pending = 0;
    // A parameter byte for the last command; a byte >= 0xED is a new command instead.
    if (command != 0 && value < kKbdSetLeds) {
        bool const translate = (m_ram[0] & kCtrTranslate) != 0;
        switch (command) {
            case kKbdSetLeds:
            case kKbdSetRate: keyboard_answer({kKbdAck}); return;
            case kKbdScanCodeSet:
                if (value == 0) {
                    keyboard_answer({kKbdAck, set_number_byte(m_scan_code_set, translate)});
                } else if (value == 1 || value == 2) {
                    m_scan_code_set = value;
                    keyboard_answer({kKbdAck});
                } else {
                    keyboard_answer({kKbdNak});  // set 3 is not offered
                }
                return;
            default: break;
        }
    }
    switch (value) {
        case kKbdSetLeds:
        case kKbdSetRate:
        case kKbdScanCodeSet:
            m_keyboard_pending = value;
            keyboard_answer({kKbdAck});
            return;
        case kKbdEcho: keyboard_answer({kKbdEcho}); return;
        case kKbdGetId: {
            bool const translate = (m_ram[0] & kCtrTranslate) != 0;
            keyboard_answer({kKbdAck, kKbdId0, translate ? kKbdId1Translated : kKbdId1});
            return;
        }
        case kKbdEnable:
            m_keyboard.clear();
            m_scanning = true;
            keyboard_answer({kKbdAck});
            return;
        case kKbdResetDisable:
            m_keyboard.clear();
            m_scanning = false;
            keyboard_answer({kKbdAck});
            return;
        case kKbdSetDefault:
            m_keyboard.clear();
            keyboard_answer({kKbdAck});
            return;
        case kKbdResend: keyboard_answer({m_keyboard_last}); return;
        case kKbdReset:
            m_keyboard.clear();
            m_scanning = true;
            m_scan_code_set = 2;
            keyboard_answer({kKbdAck, kKbdSelfTestPassed});
            return;
        default:
            // 0xF7-0xFD are set 3 key-type commands: acknowledged, without effect.
            keyboard_answer({value >= 0xf7 ? kKbdAck : kKbdNak});
            return;
    }
}

}  // namespace vmm::devices

// SPDX-License-Identifier: Apache-2.0
// I8042: the PC keyboard controller with a minimal keyboard and no mouse. Enough of the
// controller for Linux's i8042 driver to probe quickly and quietly (the command byte, self
// tests, interface enables), the CPU reset line (command 0xFE, used by reboot=k), and a PS/2
// keyboard on the first port that answers what Linux's atkbd asks at probe and later (reset,
// identify, LEDs, typematic rate, scan code set, enable/disable) at once, and that the host
// can press Ctrl-Alt-Del on (press_ctrl_alt_del: the API's SendCtrlAltDel).
#pragma once

#include <cstdint>
#include <deque>
#include <initializer_list>
#include <functional>
#include <mutex>
#include <span>
#include <vector>

#include "vmm/base/bus.h"
#include "vmm/base/irq_line.h"
#include "vmm/base/result.h"

namespace vmm::devices {

class I8042 final : public BusDevice {
public:
    /// Registered at port 0x60 with length 5, covering 0x60 (data) and 0x64 (command/status);
    /// 0x61 belongs to KVM's in-kernel PIT, 0x62/0x63 read as all-ones.
    static constexpr uint16_t kBasePort = 0x60;
    static constexpr uint64_t kLength = 5;
    static constexpr uint64_t kDataOffset = 0;
    static constexpr uint64_t kCommandOffset = 4;
    static constexpr uint32_t kKeyboardIrq = 1;

    // Status register (port 0x64 read).
    static constexpr uint8_t kStatusOutputFull = 0x01;
    static constexpr uint8_t kStatusInputFull = 0x02;
    static constexpr uint8_t kStatusSystem = 0x04;
    static constexpr uint8_t kStatusCommand = 0x08;   // last write went to port 0x64
    static constexpr uint8_t kStatusUnlocked = 0x10;  // keyboard not inhibited
    static constexpr uint8_t kStatusAuxData = 0x20;
    static constexpr uint8_t kStatusTimeout = 0x40;
    // Controller configuration byte ("command byte", CTR).
    static constexpr uint8_t kCtrKeyboardInterrupt = 0x01;
    static constexpr uint8_t kCtrAuxInterrupt = 0x02;
    static constexpr uint8_t kCtrSystem = 0x04;
    static constexpr uint8_t kCtrKeyboardDisabled = 0x10;
    static constexpr uint8_t kCtrAuxDisabled = 0x20;
    static constexpr uint8_t kCtrTranslate = 0x40;
    /// What a BIOS leaves: keyboard interrupt, POST passed, translation, aux port off.
    static constexpr uint8_t kInitialCtr =
        kCtrKeyboardInterrupt | kCtrSystem | kCtrAuxDisabled | kCtrTranslate;

    static constexpr uint8_t kCommandReadCtr = 0x20;
    static constexpr uint8_t kCommandWriteCtr = 0x60;
    static constexpr uint8_t kCommandAuxDisable = 0xa7;
    static constexpr uint8_t kCommandAuxEnable = 0xa8;
    static constexpr uint8_t kCommandAuxTest = 0xa9;
    static constexpr uint8_t kCommandSelfTest = 0xaa;
    static constexpr uint8_t kCommandKeyboardTest = 0xab;
    static constexpr uint8_t kCommandKeyboardDisable = 0xad;
    static constexpr uint8_t kCommandKeyboardEnable = 0xae;
    static constexpr uint8_t kCommandReadOutputPort = 0xd0;
    static constexpr uint8_t kCommandWriteOutputPort = 0xd1;
    static constexpr uint8_t kCommandWriteKeyboardBuffer = 0xd2;
    static constexpr uint8_t kCommandWriteAuxBuffer = 0xd3;
    static constexpr uint8_t kCommandWriteAux = 0xd4;
    static constexpr uint8_t kCommandReset = 0xfe;

    static constexpr uint8_t kSelfTestPassed = 0x55;
    /// Aux interface test result: "clock line stuck low", i.e. no usable mouse port.
    static constexpr uint8_t kAuxTestFailed = 0x01;
    /// What the controller puts in the output buffer, with kStatusTimeout, when the keyboard
    /// does not answer a byte sent to it (kept for reference: the keyboard always answers).
    static constexpr uint8_t kNoDevice = 0xfe;

    // The keyboard's commands (bytes written to port 0x60 with no controller command pending)
    // and answers, per the IBM PS/2 keyboard technical reference.
    static constexpr uint8_t kKbdSetLeds = 0xed;
    static constexpr uint8_t kKbdEcho = 0xee;
    static constexpr uint8_t kKbdScanCodeSet = 0xf0;
    static constexpr uint8_t kKbdGetId = 0xf2;
    static constexpr uint8_t kKbdSetRate = 0xf3;
    static constexpr uint8_t kKbdEnable = 0xf4;
    static constexpr uint8_t kKbdResetDisable = 0xf5;
    static constexpr uint8_t kKbdSetDefault = 0xf6;
    static constexpr uint8_t kKbdResend = 0xfe;
    static constexpr uint8_t kKbdReset = 0xff;
    static constexpr uint8_t kKbdAck = 0xfa;
    static constexpr uint8_t kKbdNak = 0xfe;  // "resend": an unknown command or parameter
    static constexpr uint8_t kKbdSelfTestPassed = 0xaa;
    static constexpr uint8_t kKbdId0 = 0xab;  // an MF2 keyboard: AB 83, or AB 41 translated
    static constexpr uint8_t kKbdId1 = 0x83;
    static constexpr uint8_t kKbdId1Translated = 0x41;
    /// Bytes the keyboard holds for the controller (a real one buffers about 16).
    static constexpr size_t kKeyboardBuffer = 16;

    /// irq is IRQ 1, raised (edge) when a byte lands in the output buffer, or the keyboard
    /// interrupt gets enabled with one waiting, while CTR bit 0 is set.
    /// on_reset runs once per reset request (0xF0-0xFE with bit 0 clear, or 0xD1 with bit 0
    /// of the new output port clear), outside the device lock.
    I8042(IrqLine& irq, std::function<void()> on_reset)
        : m_irq(irq), m_on_reset(std::move(on_reset)) {}

    void read(uint64_t offset, std::span<uint8_t> data) override;
    void write(uint64_t offset, std::span<uint8_t const> data) override;

    /// Presses and releases Ctrl, Alt and Delete (Ctrl and Alt down, Delete down and up, Alt
    /// and Ctrl up) on the keyboard: scan code set 2, translated to set 1 when the CTR's
    /// translation bit is set (set 1 directly when the guest chose set 1), raising IRQ 1 as the
    /// bytes reach the output buffer. Fails with a message for a person when the keyboard has
    /// scanning disabled (its driver has not enabled it) or its buffer cannot take the bytes.
    Result<void> press_ctrl_alt_del();

    /// The scan code bytes of press_ctrl_alt_del, in `set` (1 or 2), translated to set 1 when
    /// `translate` (set 2 only).
    static std::vector<uint8_t> ctrl_alt_del_bytes(int set, bool translate);

private:
    struct Effects {
        bool reset = false;
        bool irq = false;
    };
    /// The keyboard's side: answers a byte the guest sent it.
    void keyboard_receive(uint8_t value);
    void keyboard_answer(std::initializer_list<uint8_t> bytes);
    /// Moves the next keyboard byte into an empty output buffer; true if it did.
    bool feed_output();
    uint8_t status() const;
    uint8_t read_data();
    void write_command(uint8_t command, Effects& effects);
    void write_data(uint8_t value, Effects& effects);
    void push_output(uint8_t value, bool timeout = false);
    bool irq_level() const;

    IrqLine& m_irq;
    std::function<void()> m_on_reset;
    mutable std::mutex m_lock;
    uint8_t m_ram[32] = {kInitialCtr};  // controller RAM; byte 0 is the CTR
    uint8_t m_output = 0;               // output buffer (port 0x60)
    bool m_output_full = false;
    bool m_output_timeout = false;
    bool m_last_write_command = false;
    uint8_t m_pending = 0;         // command waiting for its data byte, 0 if none
    uint8_t m_output_port = 0x03;  // bit 0: CPU not in reset; bit 1: A20 enabled

    // The keyboard.
    std::deque<uint8_t> m_keyboard;       // bytes waiting for the output buffer
    uint8_t m_keyboard_pending = 0;       // command waiting for its parameter, 0 if none
    uint8_t m_keyboard_last = kKbdAck;    // for RESEND
    bool m_scanning = true;               // F4 enables, F5 disables (power-on: enabled)
    int m_scan_code_set = 2;
};

}  // namespace vmm::devices

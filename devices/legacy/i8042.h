// SPDX-License-Identifier: Apache-2.0
// I8042: the PC keyboard controller with nothing plugged in. Enough of the controller for
// Linux's i8042 driver to probe quickly and quietly (the command byte, self tests, interface
// enables), the CPU reset line (command 0xFE, used by reboot=k) and a keyboard port whose
// absent keyboard answers every byte with a timeout, so atkbd gives up at once.
#pragma once

#include <cstdint>
#include <functional>
#include <mutex>
#include <span>

#include "vmm/base/bus.h"
#include "vmm/base/irq_line.h"

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
    /// does not answer a byte sent to it.
    static constexpr uint8_t kNoDevice = 0xfe;

    /// irq is IRQ 1, raised (edge) when a byte lands in the output buffer, or the keyboard
    /// interrupt gets enabled with one waiting, while CTR bit 0 is set.
    /// on_reset runs once per reset request (0xF0-0xFE with bit 0 clear, or 0xD1 with bit 0
    /// of the new output port clear), outside the device lock.
    I8042(IrqLine& irq, std::function<void()> on_reset)
        : m_irq(irq), m_on_reset(std::move(on_reset)) {}

    void read(uint64_t offset, std::span<uint8_t> data) override;
    void write(uint64_t offset, std::span<uint8_t const> data) override;

private:
    struct Effects {
        bool reset = false;
        bool irq = false;
    };
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
};

}  // namespace vmm::devices

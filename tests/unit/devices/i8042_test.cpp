// SPDX-License-Identifier: Apache-2.0
// The i8042 keyboard controller: commands, status bits, IRQ 1, reset, and Linux's probe.
#include <catch2/catch.hpp>

#include <array>
#include <atomic>
#include <cstdint>
#include <vector>

#include "devices/legacy/i8042.h"
#include "tests/support/temp_file.h"

namespace {

using vmm::devices::I8042;

struct FakeIrq final : vmm::IrqLine {
    void trigger() override { ++count; }
    std::atomic<int> count{0};
};

constexpr uint64_t kData = I8042::kDataOffset, kCmd = I8042::kCommandOffset;

struct Controller {
    FakeIrq irq;
    int resets = 0;
    I8042 device{irq, [this] { ++resets; }};

    void command(uint8_t value) { device.write(kCmd, std::span<uint8_t const>(&value, 1)); }
    void data(uint8_t value) { device.write(kData, std::span<uint8_t const>(&value, 1)); }
    uint8_t status() { return in(kCmd); }
    uint8_t in(uint64_t offset) {
        uint8_t value = 0xaa;
        device.read(offset, std::span<uint8_t>(&value, 1));
        return value;
    }
    bool full() { return (status() & I8042::kStatusOutputFull) != 0; }
    /// The answer to a command that returns one byte, as Linux's __i8042_command reads it.
    uint8_t ask(uint8_t cmd) {
        command(cmd);
        REQUIRE(full());
        return in(kData);
    }
};

}  // namespace

TEST_CASE("i8042 status at power-on: empty buffers, system flag, not inhibited", "[devices]") {
    Controller c;
    uint8_t const s = c.status();
    CHECK((s & I8042::kStatusOutputFull) == 0);
    CHECK((s & I8042::kStatusInputFull) == 0);
    CHECK((s & I8042::kStatusSystem) != 0);
    CHECK((s & I8042::kStatusUnlocked) != 0);  // else Linux warns "Keylock active"
    CHECK((s & (I8042::kStatusAuxData | I8042::kStatusTimeout | 0x80)) == 0);
    CHECK(c.irq.count == 0);
    CHECK(c.resets == 0);
}

TEST_CASE("i8042 reads and writes the CTR (0x20, 0x60) and controller RAM", "[devices]") {
    Controller c;
    CHECK(c.ask(I8042::kCommandReadCtr) == I8042::kInitialCtr);
    CHECK_FALSE(c.full());                             // reading port 0x60 empties it
    CHECK((c.status() & I8042::kStatusCommand) != 0);  // last write was a command
    c.command(I8042::kCommandWriteCtr);
    CHECK_FALSE(c.full());
    c.data(0x74);
    CHECK((c.status() & I8042::kStatusCommand) == 0);
    CHECK(c.ask(0x20) == 0x74);
    CHECK(c.ask(0x20) == 0x74);  // stable, as Linux's i8042_controller_init() demands
    // The system flag in the status follows CTR bit 2.
    c.command(0x60);
    c.data(0x00);
    CHECK((c.status() & I8042::kStatusSystem) == 0);
    // Other RAM bytes: 0x61-0x7f write, 0x21-0x3f read.
    c.command(0x7f);
    c.data(0x5a);
    CHECK(c.ask(0x3f) == 0x5a);
    CHECK(c.ask(0x21) == 0x00);
    CHECK(c.ask(0x20) == 0x00);
    CHECK(c.resets == 0);
}

TEST_CASE("i8042 enables and disables the interfaces through the CTR", "[devices]") {
    Controller c;
    c.command(I8042::kCommandAuxEnable);
    CHECK((c.ask(0x20) & I8042::kCtrAuxDisabled) == 0);
    c.command(I8042::kCommandAuxDisable);
    CHECK((c.ask(0x20) & I8042::kCtrAuxDisabled) != 0);
    c.command(I8042::kCommandKeyboardDisable);
    CHECK((c.ask(0x20) & I8042::kCtrKeyboardDisabled) != 0);
    c.command(I8042::kCommandKeyboardEnable);
    CHECK((c.ask(0x20) & I8042::kCtrKeyboardDisabled) == 0);
    CHECK_FALSE(c.full());  // none of these answers
}

TEST_CASE("i8042 self tests: controller 0x55, keyboard 0, aux port reported broken", "[devices]") {
    Controller c;
    CHECK(c.ask(I8042::kCommandSelfTest) == I8042::kSelfTestPassed);
    CHECK((c.status() & I8042::kStatusSystem) != 0);
    CHECK(c.ask(I8042::kCommandKeyboardTest) == 0x00);
    uint8_t const aux = c.ask(I8042::kCommandAuxTest);
    // Linux treats anything but 0, 0xfa and 0xff as "no aux port".
    CHECK(aux != 0x00);
    CHECK(aux != 0xfa);
    CHECK(aux != 0xff);
}

TEST_CASE("i8042 answers a byte for the absent keyboard with 0xFE and the timeout bit",
          "[devices]") {
    Controller c;
    for (uint8_t byte : {0xf2, 0xed, 0xff, 0x00}) {
        c.data(byte);
        uint8_t const s = c.status();
        CHECK((s & I8042::kStatusOutputFull) != 0);
        CHECK((s & I8042::kStatusTimeout) != 0);
        CHECK((s & I8042::kStatusAuxData) == 0);
        CHECK(c.in(kData) == I8042::kNoDevice);
        CHECK((c.status() & (I8042::kStatusOutputFull | I8042::kStatusTimeout)) == 0);
    }
    CHECK(c.in(kData) == I8042::kNoDevice);  // an empty buffer reads its last byte again
    CHECK(c.resets == 0);
}

TEST_CASE("i8042 raises IRQ 1 for a new byte only while the keyboard interrupt is on",
          "[devices]") {
    Controller c;
    c.command(0x60);
    c.data(0x74);  // keyboard interrupt off, as Linux sets it while probing
    c.data(0xf2);
    CHECK(c.irq.count == 0);
    // Enabling the interrupt with a byte waiting raises it.
    c.command(0x60);
    c.data(0x65);
    CHECK(c.irq.count == 1);
    c.in(kData);
    c.data(0xf2);
    CHECK(c.irq.count == 2);
    // An unread byte replaced by the next one: the line is already up, no new edge.
    c.data(0xf2);
    CHECK(c.irq.count == 2);
    c.in(kData);
    CHECK(c.ask(0x20) == 0x65);  // command answers set OBF too, as on the chip
    CHECK(c.irq.count == 3);
    c.command(I8042::kCommandKeyboardEnable);  // no answer, no interrupt
    c.status();
    CHECK(c.irq.count == 3);
}

TEST_CASE("i8042 0xD2 and 0xD3 echo the next byte as keyboard data; 0xD4 drops it", "[devices]") {
    Controller c;
    c.command(I8042::kCommandWriteKeyboardBuffer);
    c.data(0x1c);
    CHECK(c.status() == (I8042::kStatusOutputFull | I8042::kStatusUnlocked | I8042::kStatusSystem));
    CHECK(c.in(kData) == 0x1c);
    c.command(I8042::kCommandWriteAuxBuffer);
    c.data(0x5a);
    CHECK((c.status() & I8042::kStatusAuxData) == 0);  // no aux channel
    CHECK(c.in(kData) == 0x5a);
    c.command(I8042::kCommandWriteAux);
    c.data(0xf4);
    CHECK_FALSE(c.full());
    c.data(0xf4);  // the command took one byte only: this one goes to the keyboard
    CHECK(c.in(kData) == I8042::kNoDevice);
}

TEST_CASE("i8042 output port: 0xD0 reads it, 0xD1 writes it, bit 0 clear resets", "[devices]") {
    Controller c;
    CHECK((c.ask(I8042::kCommandReadOutputPort) & 0x01) == 0x01);
    c.command(I8042::kCommandWriteOutputPort);
    c.data(0xdf);  // what Linux writes at init (A20 on)
    CHECK(c.resets == 0);
    CHECK(c.ask(I8042::kCommandReadOutputPort) == 0xdf);
    c.command(I8042::kCommandWriteOutputPort);
    c.data(0xde);
    CHECK(c.resets == 1);
    c.data(0xde);  // a second data byte is not an output port write
    CHECK(c.resets == 1);
    // A new command cancels a pending 0xD1.
    c.command(I8042::kCommandWriteOutputPort);
    c.command(I8042::kCommandKeyboardEnable);
    c.data(0x00);
    CHECK(c.resets == 1);
}

TEST_CASE("i8042 pulses reset for 0xF0-0xFE with bit 0 clear, once per command", "[devices]") {
    Controller c;
    c.command(I8042::kCommandReset);
    CHECK(c.resets == 1);
    c.command(I8042::kCommandReset);
    CHECK(c.resets == 2);
    c.command(0xff);  // Linux's "null command for SMM firmware"
    c.command(0xf1);
    CHECK(c.resets == 2);
    c.command(0xf0);
    CHECK(c.resets == 3);
    c.data(0xfe);  // to the keyboard, not a command
    CHECK(c.resets == 3);
    CHECK_FALSE((c.status() & I8042::kStatusInputFull));
}

TEST_CASE("i8042 ignores unknown commands", "[devices]") {
    Controller c;
    for (uint8_t command : {0x90, 0x93, 0xc0, 0xe0, 0x00, 0x1f, 0x80, 0xa0, 0xac, 0xef}) {
        c.command(command);
        CHECK_FALSE(c.full());
    }
    CHECK(c.ask(0x20) == I8042::kInitialCtr);
    CHECK(c.resets == 0);
}

TEST_CASE("i8042 other ports, widths and empty accesses", "[devices]") {
    Controller c;
    for (uint64_t offset : {1, 2, 3}) {
        CHECK(c.in(offset) == 0xff);
        uint8_t const fe = 0xfe;
        c.device.write(offset, std::span<uint8_t const>(&fe, 1));
    }
    CHECK(c.resets == 0);
    CHECK_FALSE(c.full());
    std::array<uint8_t, 4> wide{0xaa, 0xaa, 0xaa, 0xaa};
    c.device.read(kCmd, wide);
    CHECK(wide == std::array<uint8_t, 4>{c.status(), 0, 0, 0});
    std::array<uint8_t const, 2> word{0xfe, 0x00};
    c.device.write(kCmd, word);  // the first byte is the command
    CHECK(c.resets == 1);
    c.device.write(kCmd, std::span<uint8_t const>());
    c.device.read(kData, std::span<uint8_t>());
    CHECK(c.resets == 1);
    c.device.write(UINT64_MAX, word);
    CHECK(c.resets == 1);

    I8042 no_callback(c.irq, nullptr);
    uint8_t const fe = 0xfe;
    no_callback.write(kCmd, std::span<uint8_t const>(&fe, 1));
}

TEST_CASE("i8042 lets Linux 6.1's probe through without a timeout", "[devices]") {
    // drivers/input/serio/i8042.c, step by step; every answer must be there at once (Linux
    // polls up to 500 ms for one), and only the keyboard port may survive.
    Controller c;
    auto const wait_write = [&] { REQUIRE((c.status() & I8042::kStatusInputFull) == 0); };
    auto const command = [&](uint8_t cmd) {
        wait_write();
        c.command(cmd);
    };
    auto const param = [&](uint8_t byte) {
        wait_write();
        c.data(byte);
    };
    auto const result = [&] {
        REQUIRE(c.full());
        return std::pair{c.status(), c.in(kData)};
    };
    // i8042_platform_init: A20 through the output port, then the SMM null command.
    command(0xd1);
    param(0xdf);
    command(0xff);
    // i8042_controller_check: flush finds nothing.
    CHECK_FALSE(c.full());
    // i8042_controller_init: two equal CTR reads, then kbd off, kbd interrupt off.
    command(0x20);
    uint8_t ctr = result().second;
    command(0x20);
    CHECK(result().second == ctr);
    CHECK((c.status() & I8042::kStatusUnlocked) != 0);
    ctr = static_cast<uint8_t>((ctr | I8042::kCtrKeyboardDisabled) & ~I8042::kCtrKeyboardInterrupt);
    command(0x60);
    param(ctr);
    // i8042_check_aux: the loop-back fails (no aux flag), then the aux test fails: no aux port.
    command(0xd3);
    param(0x5a);
    CHECK((result().first & I8042::kStatusAuxData) == 0);
    command(0xa9);
    uint8_t const aux = result().second;
    CHECK((aux != 0 && aux != 0xfa && aux != 0xff));
    // i8042_setup_kbd -> i8042_enable_kbd_port.
    ctr = static_cast<uint8_t>((ctr & ~I8042::kCtrKeyboardDisabled) | I8042::kCtrKeyboardInterrupt);
    command(0x60);
    param(ctr);
    CHECK_FALSE(c.full());
    // atkbd_probe: GET ID and SET LEDS are each sent twice (a NAK is retried once); every byte
    // gets an interrupt with 0xFE and the timeout flag. (Earlier edges, from command answers
    // while the BIOS-style CTR had the interrupt on, reach a masked line in Linux.)
    int const irqs = c.irq.count;
    for (int i = 1; i <= 4; ++i) {
        param(i <= 2 ? 0xf2 : 0xed);
        CHECK(c.irq.count == irqs + i);
        auto const [status, byte] = result();
        CHECK(byte == 0xfe);
        CHECK((status & I8042::kStatusTimeout) != 0);
    }
    // reboot=k: kb_wait() and 0xFE to port 0x64.
    command(0xfe);
    CHECK(c.resets == 1);
}

TEST_CASE("i8042 survives random bytes on every port; reset once per request", "[devices]") {
    Controller c;
    auto const bytes = vmm::test::random_bytes(200000, 8042);
    int expected_resets = 0;
    bool pending_output_port = false;
    for (size_t i = 0; i + 1 < bytes.size(); i += 2) {
        uint64_t const offset = bytes[i] % I8042::kLength;
        uint8_t const value = bytes[i + 1];
        if (bytes[i] & 0x80) {
            c.in(offset);
            continue;
        }
        if (offset == kCmd) {
            if (value >= 0xf0 && (value & 1) == 0) ++expected_resets;
            pending_output_port = value == I8042::kCommandWriteOutputPort;
            c.command(value);
        } else if (offset == kData) {
            if (pending_output_port && (value & 1) == 0) ++expected_resets;
            pending_output_port = false;
            c.data(value);
        } else {
            c.device.write(offset, std::span<uint8_t const>(&value, 1));
        }
        CHECK((c.status() & (I8042::kStatusInputFull | I8042::kStatusAuxData)) == 0);
    }
    CHECK(c.resets == expected_resets);
    CHECK(expected_resets > 0);
}

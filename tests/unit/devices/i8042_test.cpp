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

TEST_CASE("i8042 keyboard acknowledges its commands at once, without the timeout bit",
          "[devices]") {
    Controller c;
    for (uint8_t byte : {0xf4, 0xf5, 0xf6, 0xf4}) {
        c.data(byte);
        uint8_t const s = c.status();
        CHECK((s & I8042::kStatusOutputFull) != 0);
        CHECK((s & I8042::kStatusTimeout) == 0);
        CHECK((s & I8042::kStatusAuxData) == 0);
        CHECK(c.in(kData) == I8042::kKbdAck);
        CHECK_FALSE(c.full());
    }
    CHECK(c.in(kData) == I8042::kKbdAck);  // an empty buffer reads its last byte again
    CHECK(c.resets == 0);
}

TEST_CASE("i8042 raises IRQ 1 for a new byte only while the keyboard interrupt is on",
          "[devices]") {
    Controller c;
    c.command(0x60);
    c.data(0x64);  // keyboard interrupt off, as Linux sets it while probing
    c.data(0xee);  // echo
    CHECK(c.irq.count == 0);
    // Enabling the interrupt with a byte waiting raises it.
    c.command(0x60);
    c.data(0x65);
    CHECK(c.irq.count == 1);
    CHECK(c.in(kData) == 0xee);
    c.data(0xee);
    CHECK(c.irq.count == 2);
    // An unread byte replaced by the next one: the line is already up, no new edge.
    c.command(I8042::kCommandWriteKeyboardBuffer);
    c.data(0x1c);
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
    c.data(0xee);  // the command took one byte only: this one goes to the keyboard
    CHECK(c.in(kData) == 0xee);
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
    // atkbd_probe (drivers/input/keyboard/atkbd.c): GET ID answers ACK and the MF2 id,
    // translated (AB 41) as the BIOS-style CTR keeps translation on; then RESET_DIS. Then
    // atkbd_select_set returns set 2 at once for a translated port, atkbd_reset_state sets
    // the LEDs and the typematic rate, and atkbd_activate enables scanning. Every byte comes
    // at once with its own interrupt (Linux's handler reads one byte per interrupt) and
    // without the timeout flag, so no step waits. (Earlier edges, from command answers while
    // the BIOS-style CTR had the interrupt on, reach a masked line in Linux.)
    auto const exchange = [&](uint8_t byte, std::vector<uint8_t> const& expected) {
        int const irqs = c.irq.count;
        param(byte);
        std::vector<uint8_t> got;
        for (size_t i = 0; i < expected.size(); ++i) {
            CHECK(c.irq.count == irqs + static_cast<int>(i) + 1);
            auto const [status, answer] = result();
            CHECK((status & I8042::kStatusTimeout) == 0);
            got.push_back(answer);
        }
        CHECK(got == expected);
        CHECK_FALSE(c.full());
    };
    exchange(0xf2, {0xfa, 0xab, 0x41});
    exchange(0xf5, {0xfa});
    exchange(0xed, {0xfa});
    exchange(0x00, {0xfa});
    exchange(0xf3, {0xfa});
    exchange(0x2b, {0xfa});
    exchange(0xf4, {0xfa});
    // SendCtrlAltDel now reaches atkbd as set 1 codes, byte by byte.
    int const irqs = c.irq.count;
    REQUIRE(c.device.press_ctrl_alt_del().has_value());
    std::vector<uint8_t> keys;
    while (c.full()) keys.push_back(c.in(kData));
    CHECK(keys == std::vector<uint8_t>{0x1d, 0x38, 0xe0, 0x53, 0xe0, 0xd3, 0xb8, 0x9d});
    CHECK(c.irq.count == irqs + 8);
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

namespace {
/// Sends a byte to the keyboard and collects every byte it answers with.
std::vector<uint8_t> keyboard(Controller& c, uint8_t byte) {
    c.data(byte);
    std::vector<uint8_t> answer;
    while (c.full()) answer.push_back(c.in(kData));
    return answer;
}
using Bytes = std::vector<uint8_t>;
}  // namespace

TEST_CASE("i8042 keyboard: reset, identify, echo, LEDs, rate, resend, unknown", "[devices]") {
    Controller c;
    CHECK(keyboard(c, 0xff) == Bytes{0xfa, 0xaa});  // reset: ACK, then BAT passed
    CHECK(keyboard(c, 0xf2) == Bytes{0xfa, 0xab, 0x41});  // MF2, translated
    c.command(0x60);
    c.data(I8042::kInitialCtr & ~I8042::kCtrTranslate);
    CHECK(keyboard(c, 0xf2) == Bytes{0xfa, 0xab, 0x83});  // untranslated
    CHECK(keyboard(c, 0xee) == Bytes{0xee});
    CHECK(keyboard(c, 0xed) == Bytes{0xfa});  // LEDs: ACK, then the parameter
    CHECK(keyboard(c, 0x07) == Bytes{0xfa});
    CHECK(keyboard(c, 0xf3) == Bytes{0xfa});  // typematic rate
    CHECK(keyboard(c, 0x7f) == Bytes{0xfa});
    CHECK(keyboard(c, 0xfe) == Bytes{0xfa});  // resend: the last byte again
    CHECK(keyboard(c, 0x00) == Bytes{0xfe});  // not a command: NAK
    CHECK(keyboard(c, 0xfe) == Bytes{0xfe});
    CHECK(keyboard(c, 0xfb) == Bytes{0xfa});  // set 3 key-type commands: accepted
    // A command where a parameter was due is a command.
    CHECK(keyboard(c, 0xed) == Bytes{0xfa});
    CHECK(keyboard(c, 0xee) == Bytes{0xee});
    CHECK(c.resets == 0);
}

TEST_CASE("i8042 keyboard scan code sets: query, 1 and 2 accepted, 3 refused", "[devices]") {
    Controller c;
    CHECK(keyboard(c, 0xf0) == Bytes{0xfa});
    CHECK(keyboard(c, 0x00) == Bytes{0xfa, 0x41});  // set 2, as the translated byte
    CHECK(keyboard(c, 0xf0) == Bytes{0xfa});
    CHECK(keyboard(c, 0x03) == Bytes{0xfe});
    c.command(0x60);
    c.data(I8042::kInitialCtr & ~I8042::kCtrTranslate);
    CHECK(keyboard(c, 0xf0) == Bytes{0xfa});
    CHECK(keyboard(c, 0x00) == Bytes{0xfa, 0x02});
    CHECK(keyboard(c, 0xf0) == Bytes{0xfa});
    CHECK(keyboard(c, 0x01) == Bytes{0xfa});
    CHECK(keyboard(c, 0xf0) == Bytes{0xfa});
    CHECK(keyboard(c, 0x00) == Bytes{0xfa, 0x01});
    // Set 1: Ctrl-Alt-Del comes as set 1 codes, whatever the translation bit.
    REQUIRE(c.device.press_ctrl_alt_del().has_value());
    Bytes keys;
    while (c.full()) keys.push_back(c.in(kData));
    CHECK(keys == I8042::ctrl_alt_del_bytes(1, false));
    // Reset returns to set 2.
    CHECK(keyboard(c, 0xff) == Bytes{0xfa, 0xaa});
    CHECK(keyboard(c, 0xf0) == Bytes{0xfa});
    CHECK(keyboard(c, 0x00) == Bytes{0xfa, 0x02});
}

TEST_CASE("i8042 Ctrl-Alt-Del scan codes: set 2, and set 1 by translation", "[devices]") {
    // Set 2: Ctrl 14, Alt 11, Delete E0 71; releases take the F0 prefix.
    CHECK(I8042::ctrl_alt_del_bytes(2, false) ==
          Bytes{0x14, 0x11, 0xe0, 0x71, 0xe0, 0xf0, 0x71, 0xf0, 0x11, 0xf0, 0x14});
    // Translated, releases set bit 7: what a set 1 keyboard would send.
    CHECK(I8042::ctrl_alt_del_bytes(2, true) == I8042::ctrl_alt_del_bytes(1, false));
    CHECK(I8042::ctrl_alt_del_bytes(1, false) ==
          Bytes{0x1d, 0x38, 0xe0, 0x53, 0xe0, 0xd3, 0xb8, 0x9d});

    Controller c;  // untranslated port: the set 2 bytes as they are
    c.command(0x60);
    c.data(I8042::kInitialCtr & ~I8042::kCtrTranslate);
    int const irqs = c.irq.count;
    REQUIRE(c.device.press_ctrl_alt_del().has_value());
    Bytes keys;
    while (c.full()) keys.push_back(c.in(kData));
    CHECK(keys == I8042::ctrl_alt_del_bytes(2, false));
    CHECK(c.irq.count == irqs + 11);  // one edge per byte
}

TEST_CASE("i8042 Ctrl-Alt-Del waits for the keyboard port; refused when it cannot be taken",
          "[devices]") {
    Controller c;
    // The keyboard interface disabled in the CTR (as Linux's i8042 sets it while probing):
    // the bytes wait in the keyboard.
    c.command(I8042::kCommandKeyboardDisable);
    REQUIRE(c.device.press_ctrl_alt_del().has_value());
    CHECK_FALSE(c.full());
    c.command(I8042::kCommandKeyboardEnable);
    Bytes keys;
    while (c.full()) keys.push_back(c.in(kData));
    CHECK(keys == I8042::ctrl_alt_del_bytes(2, true));

    // Scanning disabled (F5), as atkbd leaves it until it enables it (F4).
    CHECK(keyboard(c, 0xf5) == Bytes{0xfa});
    auto refused = c.device.press_ctrl_alt_del();
    REQUIRE_FALSE(refused);
    CHECK(refused.error().message().find("keyboard is disabled") != std::string::npos);
    CHECK_FALSE(c.full());
    CHECK(keyboard(c, 0xf4) == Bytes{0xfa});

    // A guest that never reads its keyboard: the buffer (16 bytes) takes two presses of 8
    // bytes, then no more, and nothing is lost or overwritten.
    c.command(I8042::kCommandKeyboardDisable);
    REQUIRE(c.device.press_ctrl_alt_del().has_value());
    REQUIRE(c.device.press_ctrl_alt_del().has_value());
    auto full = c.device.press_ctrl_alt_del();
    REQUIRE_FALSE(full);
    CHECK(full.error().message().find("not reading its keyboard") != std::string::npos);
    c.command(I8042::kCommandKeyboardEnable);
    keys.clear();
    while (c.full()) keys.push_back(c.in(kData));
    Bytes const once = I8042::ctrl_alt_del_bytes(2, true);
    Bytes twice = once;
    twice.insert(twice.end(), once.begin(), once.end());
    CHECK(keys == twice);
    CHECK(c.resets == 0);
}

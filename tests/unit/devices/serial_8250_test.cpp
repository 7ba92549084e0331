// SPDX-License-Identifier: Apache-2.0
// Serial8250 register model: 16550A behaviour the Linux 8250 driver relies on, interrupt edges
// (no storms from polling) and hostile register accesses.
#include <catch2/catch.hpp>

#include <array>
#include <atomic>
#include <cstdint>
#include <numeric>
#include <string>
#include <vector>

#include "devices/legacy/serial_8250.h"
#include "vmm/base/irq_line.h"

namespace {

using vmm::devices::Serial8250;

struct FakeIrq final : vmm::IrqLine {
    void trigger() override { ++count; }
    std::atomic<int> count{0};
};

constexpr uint64_t kRbrThr = 0, kIerDlm = 1, kIirFcr = 2, kLcr = 3, kMcr = 4, kLsr = 5, kMsr = 6,
                   kScr = 7;
constexpr uint8_t kLsrDr = 0x01, kLsrThre = 0x20, kLsrTemt = 0x40;

struct Uart {
    FakeIrq irq;
    std::vector<uint8_t> out;
    Serial8250 serial{irq, [this](std::span<uint8_t const> bytes) {
                          out.insert(out.end(), bytes.begin(), bytes.end());
                      }};

    void write(uint64_t offset, uint8_t value) {
        serial.write(offset, std::span<uint8_t const>(&value, 1));
    }
    uint8_t read(uint64_t offset) {
        uint8_t value = 0xaa;  // poisoned: the device must fill it
        serial.read(offset, std::span<uint8_t>(&value, 1));
        return value;
    }
    size_t enqueue(std::string const& text) {
        std::vector<uint8_t> bytes(text.begin(), text.end());
        return serial.enqueue_input(bytes);
    }
};

}  // namespace

TEST_CASE("A byte written to THR reaches the output sink", "[serial]") {
    Uart uart;
    uart.write(kRbrThr, 'h');
    uart.write(kRbrThr, 'i');
    CHECK(uart.out == std::vector<uint8_t>{'h', 'i'});
    CHECK(uart.irq.count == 0);  // no interrupt enabled
}

TEST_CASE("LSR always reports THRE and TEMT, and DR only while data waits", "[serial]") {
    Uart uart;
    CHECK(uart.read(kLsr) == (kLsrThre | kLsrTemt));
    uart.write(kRbrThr, 'x');
    CHECK(uart.read(kLsr) == (kLsrThre | kLsrTemt));
    REQUIRE(uart.enqueue("a") == 1);
    CHECK(uart.read(kLsr) == (kLsrThre | kLsrTemt | kLsrDr));
    CHECK(uart.read(kRbrThr) == 'a');
    CHECK(uart.read(kLsr) == (kLsrThre | kLsrTemt));
}

TEST_CASE("With DLAB set, offsets 0 and 1 address the divisor latch, not THR and IER",
          "[serial]") {
    Uart uart;
    CHECK(uart.read(kLcr) == 0x03);  // 8N1 at reset
    uart.write(kLcr, 0x83);
    CHECK(uart.read(kRbrThr) == 0x0c);  // 9600 baud at reset
    CHECK(uart.read(kIerDlm) == 0x00);
    uart.write(kRbrThr, 0x01);
    uart.write(kIerDlm, 0x02);  // would enable THRE interrupts if it reached IER
    CHECK(uart.out.empty());
    CHECK(uart.irq.count == 0);
    CHECK(uart.read(kRbrThr) == 0x01);
    CHECK(uart.read(kIerDlm) == 0x02);

    uart.write(kLcr, 0x03);
    CHECK(uart.read(kLcr) == 0x03);
    CHECK(uart.read(kIerDlm) == 0x00);  // IER untouched
    uart.write(kRbrThr, 'z');
    CHECK(uart.out == std::vector<uint8_t>{'z'});

    uart.write(kLcr, 0x80);  // the latch kept its value
    CHECK(uart.read(kRbrThr) == 0x01);
    CHECK(uart.read(kIerDlm) == 0x02);
}

TEST_CASE("With DLAB set, reading offset 0 does not consume received data", "[serial]") {
    Uart uart;
    REQUIRE(uart.enqueue("q") == 1);
    uart.write(kLcr, 0x80);
    CHECK(uart.read(kRbrThr) == 0x0c);
    uart.write(kLcr, 0x03);
    CHECK(uart.read(kRbrThr) == 'q');
}

TEST_CASE("IER keeps only its low four bits", "[serial]") {
    Uart uart;
    uart.write(kIerDlm, 0xff);
    CHECK(uart.read(kIerDlm) == 0x0f);
    uart.write(kIerDlm, 0xf0);
    CHECK(uart.read(kIerDlm) == 0x00);
}

TEST_CASE("Scratch register and MCR read back, MCR masked to five bits", "[serial]") {
    Uart uart;
    CHECK(uart.read(kMcr) == 0x08);  // OUT2 at reset
    uart.write(kScr, 0x5a);
    CHECK(uart.read(kScr) == 0x5a);
    uart.write(kMcr, 0xff);
    CHECK(uart.read(kMcr) == 0x1f);
}

TEST_CASE("IIR reports no interrupt, then RX data before THRE by priority", "[serial]") {
    Uart uart;
    CHECK(uart.read(kIirFcr) == 0x01);
    uart.write(kIerDlm, 0x03);  // RX data and THRE
    uart.write(kRbrThr, 'o');   // THR empty again: THRE pending
    REQUIRE(uart.enqueue("ab") == 2);
    CHECK(uart.read(kIirFcr) == 0x04);
    CHECK(uart.read(kIirFcr) == 0x04);  // reading IIR does not clear RX data
    CHECK(uart.read(kRbrThr) == 'a');
    CHECK(uart.read(kIirFcr) == 0x04);
    CHECK(uart.read(kRbrThr) == 'b');
    CHECK(uart.read(kIirFcr) == 0x02);  // THRE survived the RX reports
    CHECK(uart.read(kIirFcr) == 0x01);  // and reading it cleared it
}

TEST_CASE("RX data without the RX interrupt enabled leaves IIR at no interrupt", "[serial]") {
    Uart uart;
    uart.write(kIerDlm, 0x02);
    CHECK(uart.read(kIirFcr) == 0x02);
    REQUIRE(uart.enqueue("a") == 1);
    CHECK(uart.read(kIirFcr) == 0x01);
    CHECK((uart.read(kLsr) & kLsrDr) != 0);
}

TEST_CASE("IIR has 0xc0 set while FCR enables the FIFOs", "[serial]") {
    Uart uart;
    uart.write(kIirFcr, 0x01);
    CHECK(uart.read(kIirFcr) == 0xc1);
    uart.write(kIerDlm, 0x01);
    REQUIRE(uart.enqueue("a") == 1);
    CHECK(uart.read(kIirFcr) == 0xc4);
    CHECK(uart.read(kRbrThr) == 'a');
    uart.write(kIerDlm, 0x02);
    CHECK(uart.read(kIirFcr) == 0xc2);
    CHECK(uart.read(kIirFcr) == 0xc1);  // THRE cleared also with FIFO bits set
    uart.write(kIirFcr, 0x00);
    CHECK(uart.read(kIirFcr) == 0x01);
}

TEST_CASE("Enabling THRE interrupts raises one edge and polling does not raise more",
          "[serial]") {
    Uart uart;
    uart.write(kIerDlm, 0x02);
    CHECK(uart.irq.count == 1);
    for (int i = 0; i < 100; ++i) {
        uart.read(kLsr);
        uart.read(kIirFcr);
        uart.read(kMsr);
        uart.read(kRbrThr);
        uart.read(kIerDlm);
    }
    CHECK(uart.irq.count == 1);
    // Rewriting the same IER value is not a new condition either.
    uart.write(kIerDlm, 0x02);
    CHECK(uart.irq.count == 1);
    CHECK(uart.read(kIirFcr) == 0x01);
}

TEST_CASE("Each THR write with THRE interrupts enabled raises an edge", "[serial]") {
    Uart uart;
    uart.write(kIerDlm, 0x02);
    REQUIRE(uart.irq.count == 1);
    for (int i = 0; i < 5; ++i) uart.write(kRbrThr, static_cast<uint8_t>('0' + i));
    CHECK(uart.irq.count == 6);
    CHECK(uart.out.size() == 5);
}

TEST_CASE("THR writes raise no interrupt while THRE interrupts are disabled", "[serial]") {
    Uart uart;
    uart.write(kIerDlm, 0x01);
    for (int i = 0; i < 5; ++i) uart.write(kRbrThr, 'x');
    CHECK(uart.irq.count == 0);
    uart.write(kIerDlm, 0x00);
    uart.write(kRbrThr, 'x');
    CHECK(uart.irq.count == 0);
}

TEST_CASE("The receive FIFO takes at most 64 bytes and reports how many it took", "[serial]") {
    Uart uart;
    CHECK(uart.serial.input_space() == Serial8250::kFifoSize);
    std::vector<uint8_t> bytes(100);
    std::iota(bytes.begin(), bytes.end(), uint8_t{0});
    CHECK(uart.serial.enqueue_input(bytes) == 64);
    CHECK(uart.serial.input_space() == 0);
    CHECK(uart.serial.enqueue_input(bytes) == 0);
    CHECK(uart.serial.enqueue_input({}) == 0);
    CHECK((uart.read(kLsr) & kLsrDr) != 0);
    for (unsigned i = 0; i < 64; ++i) REQUIRE(uart.read(kRbrThr) == i);
    CHECK((uart.read(kLsr) & kLsrDr) == 0);
    CHECK(uart.read(kRbrThr) == 0);  // empty FIFO reads as 0
    CHECK(uart.serial.input_space() == Serial8250::kFifoSize);

    CHECK(uart.enqueue("xy") == 2);
    CHECK(uart.serial.input_space() == 62);
    CHECK(uart.read(kRbrThr) == 'x');
    CHECK(uart.serial.input_space() == 63);
}

TEST_CASE("Received input raises an interrupt only while RX interrupts are enabled",
          "[serial]") {
    Uart uart;
    REQUIRE(uart.enqueue("a") == 1);
    CHECK(uart.irq.count == 0);
    uart.write(kIerDlm, 0x01);  // enabling with data waiting raises the pending condition
    CHECK(uart.irq.count == 1);
    CHECK(uart.enqueue("b") == 1);
    CHECK(uart.irq.count == 2);
    CHECK(uart.enqueue("") == 0);  // nothing new: no edge
    CHECK(uart.irq.count == 2);
    CHECK(uart.read(kRbrThr) == 'a');
    CHECK(uart.read(kRbrThr) == 'b');
    CHECK(uart.irq.count == 2);  // reading does not raise
    uart.write(kIerDlm, 0x00);
    CHECK(uart.enqueue("c") == 1);
    CHECK(uart.irq.count == 2);
}

TEST_CASE("A full FIFO rejecting input raises no interrupt", "[serial]") {
    Uart uart;
    uart.write(kIerDlm, 0x01);
    REQUIRE(uart.serial.enqueue_input(std::vector<uint8_t>(64, 'a')) == 64);
    int const before = uart.irq.count;
    CHECK(uart.enqueue("b") == 0);
    CHECK(uart.irq.count == before);
}

TEST_CASE("on_input_space fires once, when the guest empties the receive FIFO", "[serial]") {
    Uart uart;
    int calls = 0;
    uart.serial.set_on_input_space([&] { ++calls; });
    REQUIRE(uart.enqueue("abc") == 3);
    CHECK(uart.read(kRbrThr) == 'a');
    CHECK(uart.read(kRbrThr) == 'b');
    CHECK(calls == 0);
    CHECK(uart.read(kRbrThr) == 'c');
    CHECK(calls == 1);
    CHECK(uart.read(kRbrThr) == 0);  // reading an empty FIFO is not a transition
    uart.read(kLsr);
    CHECK(calls == 1);
}

TEST_CASE("on_input_space may re-enter the device to queue more input", "[serial]") {
    Uart uart;
    int calls = 0;
    uart.serial.set_on_input_space([&] {
        ++calls;
        if (calls == 1) CHECK(uart.enqueue("2") == 1);  // a resumed source refills at once
    });
    REQUIRE(uart.enqueue("1") == 1);
    CHECK(uart.read(kRbrThr) == '1');
    CHECK(calls == 1);
    CHECK(uart.read(kRbrThr) == '2');
    CHECK(calls == 2);
}

TEST_CASE("FCR clear-RX empties the receive FIFO", "[serial]") {
    Uart uart;
    REQUIRE(uart.enqueue("hello") == 5);
    uart.write(kIirFcr, 0x03);  // enable + clear RX
    CHECK((uart.read(kLsr) & kLsrDr) == 0);
    CHECK(uart.serial.input_space() == Serial8250::kFifoSize);
    CHECK(uart.read(kRbrThr) == 0);
    CHECK(uart.read(kIirFcr) == 0xc1);
}

TEST_CASE("Clearing a full receive FIFO through FCR lets a paused input source resume",
          "[serial]") {
    // Linux clears the FIFOs when it opens the port; input that filled the FIFO before must
    // not leave the host side paused for ever.
    Uart uart;
    int calls = 0;
    uart.serial.set_on_input_space([&] { ++calls; });
    REQUIRE(uart.serial.enqueue_input(std::vector<uint8_t>(64, 'a')) == 64);
    uart.write(kIirFcr, 0x02);
    CHECK(calls == 1);
    uart.write(kIirFcr, 0x02);  // already empty: no transition
    CHECK(calls == 1);
}

TEST_CASE("Loopback sends THR to the receiver instead of the output", "[serial]") {
    Uart uart;
    uart.write(kMcr, 0x10);
    uart.write(kIerDlm, 0x01);
    uart.write(kRbrThr, 'L');
    CHECK(uart.out.empty());
    CHECK((uart.read(kLsr) & kLsrDr) != 0);
    CHECK(uart.irq.count == 1);
    CHECK(uart.read(kIirFcr) == 0x04);
    CHECK(uart.read(kRbrThr) == 'L');

    // A full FIFO drops looped-back bytes rather than growing.
    for (int i = 0; i < 100; ++i) uart.write(kRbrThr, static_cast<uint8_t>(i));
    CHECK(uart.serial.input_space() == 0);
    CHECK(uart.read(kRbrThr) == 0);

    uart.write(kMcr, 0x08);  // loopback off: output flows again
    uart.write(kRbrThr, 'o');
    CHECK(uart.out == std::vector<uint8_t>{'o'});
}

TEST_CASE("In loopback MSR mirrors MCR, otherwise it reports a connected modem", "[serial]") {
    Uart uart;
    CHECK(uart.read(kMsr) == 0xb0);  // DCD, DSR, CTS
    uart.write(kMcr, 0x10);
    CHECK(uart.read(kMsr) == 0x00);
    uart.write(kMcr, 0x10 | 0x01);  // DTR -> DSR
    CHECK(uart.read(kMsr) == 0x20);
    uart.write(kMcr, 0x10 | 0x02);  // RTS -> CTS
    CHECK(uart.read(kMsr) == 0x10);
    uart.write(kMcr, 0x10 | 0x04);  // OUT1 -> RI
    CHECK(uart.read(kMsr) == 0x40);
    uart.write(kMcr, 0x10 | 0x08);  // OUT2 -> DCD
    CHECK(uart.read(kMsr) == 0x80);
    uart.write(kMcr, 0x1f);
    CHECK(uart.read(kMsr) == 0xf0);
}

TEST_CASE("LSR and MSR ignore writes", "[serial]") {
    Uart uart;
    uart.write(kLsr, 0x00);
    uart.write(kMsr, 0x00);
    CHECK(uart.read(kLsr) == (kLsrThre | kLsrTemt));
    CHECK(uart.read(kMsr) == 0xb0);
}

TEST_CASE("Accesses beyond the eight registers are ignored and read as zero", "[serial]") {
    Uart uart;
    REQUIRE(uart.enqueue("k") == 1);
    for (uint64_t offset : {uint64_t{8}, uint64_t{9}, uint64_t{0x100}, UINT64_MAX}) {
        CHECK(uart.read(offset) == 0);
        uart.write(offset, 'x');
        std::array<uint8_t, 4> wide{0xaa, 0xaa, 0xaa, 0xaa};
        uart.serial.read(offset, wide);
        CHECK(wide == std::array<uint8_t, 4>{});
    }
    CHECK(uart.out.empty());
    CHECK(uart.read(kRbrThr) == 'k');  // nothing consumed the data
}

TEST_CASE("Zero-length accesses do nothing", "[serial]") {
    Uart uart;
    REQUIRE(uart.enqueue("k") == 1);
    uart.write(kIerDlm, 0x01);
    int const before = uart.irq.count;
    for (uint64_t offset = 0; offset < 8; ++offset) {
        uart.serial.read(offset, std::span<uint8_t>());
        uart.serial.write(offset, std::span<uint8_t const>());
    }
    CHECK(uart.out.empty());
    CHECK(uart.irq.count == before);
    CHECK(uart.read(kRbrThr) == 'k');
}

TEST_CASE("A wide access uses byte 0 and reads the other bytes as zero", "[serial]") {
    Uart uart;
    std::array<uint8_t, 4> wide{0xaa, 0xaa, 0xaa, 0xaa};
    uart.serial.read(kLsr, wide);
    CHECK(wide == std::array<uint8_t, 4>{kLsrThre | kLsrTemt, 0, 0, 0});

    uart.write(kScr, 0x5a);
    wide.fill(0xaa);
    uart.serial.read(kScr, wide);  // the access would run past the last register
    CHECK(wide == std::array<uint8_t, 4>{0x5a, 0, 0, 0});

    std::array<uint8_t const, 4> value{'A', 'B', 'C', 'D'};
    uart.serial.write(kRbrThr, value);
    CHECK(uart.out == std::vector<uint8_t>{'A'});

    REQUIRE(uart.enqueue("12") == 2);
    wide.fill(0xaa);
    uart.serial.read(kRbrThr, wide);
    CHECK(wide == std::array<uint8_t, 4>{'1', 0, 0, 0});  // one byte popped, not four
    CHECK(uart.read(kRbrThr) == '2');
}

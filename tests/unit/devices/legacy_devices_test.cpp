// SPDX-License-Identifier: Apache-2.0
// The small legacy devices: the exit port and the boot timer (i8042: i8042_test.cpp).
#include <catch2/catch.hpp>

#include <array>
#include <chrono>
#include <cstdint>
#include <optional>
#include <vector>

#include "devices/legacy/boot_timer.h"
#include "devices/legacy/exit_device.h"

namespace {

using namespace std::chrono_literals;
using vmm::devices::BootTimer;
using vmm::devices::ExitDevice;

void write_byte(vmm::BusDevice& device, uint64_t offset, uint8_t value) {
    device.write(offset, std::span<uint8_t const>(&value, 1));
}

bool reads_zero(vmm::BusDevice& device, uint64_t offset, size_t width) {
    std::vector<uint8_t> data(width, 0xaa);
    device.read(offset, data);
    for (uint8_t byte : data)
        if (byte != 0) return false;
    return true;
}

}  // namespace

TEST_CASE("The exit device passes the low byte of 1, 2 and 4 byte writes at offset 0",
          "[devices]") {
    std::vector<uint8_t> statuses;
    ExitDevice exit([&](uint8_t status) { statuses.push_back(status); });
    write_byte(exit, 0, 42);
    std::array<uint8_t const, 2> word{0x34, 0x12};
    exit.write(0, word);
    std::array<uint8_t const, 4> dword{0xff, 0x01, 0x02, 0x03};
    exit.write(0, dword);
    std::array<uint8_t const, 4> zero_low{0x00, 0xff, 0xff, 0xff};
    exit.write(0, zero_low);
    CHECK(statuses == std::vector<uint8_t>{42, 0x34, 0xff, 0x00});
}

TEST_CASE("The exit device ignores other offsets and empty writes, and reads zero",
          "[devices]") {
    int calls = 0;
    ExitDevice exit([&](uint8_t) { ++calls; });
    for (uint64_t offset : {uint64_t{1}, uint64_t{2}, uint64_t{3}, uint64_t{4}, UINT64_MAX})
        write_byte(exit, offset, 1);
    exit.write(0, std::span<uint8_t const>());
    CHECK(calls == 0);
    for (uint64_t offset = 0; offset < ExitDevice::kLength; ++offset)
        for (size_t width : {1, 2, 4}) CHECK(reads_zero(exit, offset, width));
    CHECK(calls == 0);
}

TEST_CASE("The boot timer reports the time since the given start for 123 at offset 0",
          "[devices]") {
    std::vector<std::chrono::microseconds> reports;
    BootTimer timer(BootTimer::Clock::now() - 5ms,
                    [&](std::chrono::microseconds elapsed) { reports.push_back(elapsed); });
    write_byte(timer, 0, BootTimer::kMagic);
    REQUIRE(reports.size() == 1);
    CHECK(reports[0] >= 5ms);
    CHECK(reports[0] < 1h);  // measured from the start point, not from the clock's epoch
    write_byte(timer, 0, BootTimer::kMagic);  // each magic write reports again
    REQUIRE(reports.size() == 2);
    CHECK(reports[1] >= reports[0]);
}

TEST_CASE("The boot timer ignores other values, other offsets and empty writes", "[devices]") {
    int calls = 0;
    BootTimer timer(BootTimer::Clock::now(), [&](std::chrono::microseconds elapsed) {
        CHECK(elapsed >= 0us);
        ++calls;
    });
    for (int value = 0; value < 256; ++value)
        if (value != BootTimer::kMagic) write_byte(timer, 0, static_cast<uint8_t>(value));
    for (uint64_t offset : {uint64_t{1}, uint64_t{4}, BootTimer::kLength - 1, UINT64_MAX})
        write_byte(timer, offset, BootTimer::kMagic);
    timer.write(0, std::span<uint8_t const>());
    CHECK(calls == 0);
    for (size_t width : {1, 2, 4, 8}) CHECK(reads_zero(timer, 0, width));
    write_byte(timer, 0, BootTimer::kMagic);
    CHECK(calls == 1);
}

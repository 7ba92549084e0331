// SPDX-License-Identifier: Apache-2.0
// The CMOS RTC with a fixed clock: encodings, status registers, CMOS RAM, hostile indices.
#include <catch2/catch.hpp>

#include <array>
#include <chrono>
#include <cstdint>

#include "devices/legacy/rtc_cmos.h"
#include "tests/support/temp_file.h"

namespace {

using namespace std::chrono;
using vmm::devices::RtcCmos;

// Thursday 29 February 2024, 13:45:07.5 UTC.
sys_time<nanoseconds> const kThursday = sys_days{2024y / February / 29} + 13h + 45min + 7s + 500ms;

struct Rtc {
    system_clock::time_point now = time_point_cast<system_clock::duration>(kThursday);
    RtcCmos device{[this] { return now; }};

    void out(uint64_t offset, uint8_t value) {
        device.write(offset, std::span<uint8_t const>(&value, 1));
    }
    uint8_t in(uint64_t offset) {
        uint8_t value = 0xaa;
        device.read(offset, std::span<uint8_t>(&value, 1));
        return value;
    }
    uint8_t get(uint8_t index) {
        out(RtcCmos::kIndexOffset, index);
        return in(RtcCmos::kDataOffset);
    }
    void set(uint8_t index, uint8_t value) {
        out(RtcCmos::kIndexOffset, index);
        out(RtcCmos::kDataOffset, value);
    }
    void at(sys_time<nanoseconds> t) { now = time_point_cast<system_clock::duration>(t); }
};

}  // namespace

TEST_CASE("RTC powers on in BCD, 24-hour mode with the clock's time", "[devices][rtc]") {
    Rtc rtc;
    CHECK(rtc.get(RtcCmos::kSeconds) == 0x07);
    CHECK(rtc.get(RtcCmos::kMinutes) == 0x45);
    CHECK(rtc.get(RtcCmos::kHours) == 0x13);
    CHECK(rtc.get(RtcCmos::kWeekday) == 0x05);  // Sunday = 1
    CHECK(rtc.get(RtcCmos::kDayOfMonth) == 0x29);
    CHECK(rtc.get(RtcCmos::kMonth) == 0x02);
    CHECK(rtc.get(RtcCmos::kYear) == 0x24);
    CHECK(rtc.get(RtcCmos::kCentury) == 0x20);
    CHECK(rtc.get(RtcCmos::kStatusA) == 0x26);
    CHECK(rtc.get(RtcCmos::kStatusB) == 0x02);
    CHECK(rtc.get(RtcCmos::kStatusD) == 0x80);
    rtc.at(kThursday + 10min);
    CHECK(rtc.get(RtcCmos::kMinutes) == 0x55);  // reads follow the clock
}

TEST_CASE("RTC binary mode when the guest sets DM in status B", "[devices][rtc]") {
    Rtc rtc;
    rtc.set(RtcCmos::kStatusB, RtcCmos::kBBinary | RtcCmos::kB24Hour);
    CHECK(rtc.get(RtcCmos::kStatusB) == 0x06);
    CHECK(rtc.get(RtcCmos::kSeconds) == 7);
    CHECK(rtc.get(RtcCmos::kMinutes) == 45);
    CHECK(rtc.get(RtcCmos::kHours) == 13);
    CHECK(rtc.get(RtcCmos::kWeekday) == 5);
    CHECK(rtc.get(RtcCmos::kDayOfMonth) == 29);
    CHECK(rtc.get(RtcCmos::kMonth) == 2);
    CHECK(rtc.get(RtcCmos::kYear) == 24);
    CHECK(rtc.get(RtcCmos::kCentury) == 20);
}

TEST_CASE("RTC 12-hour mode in BCD and binary", "[devices][rtc]") {
    struct Case {
        hours hour;
        uint8_t bcd, binary;
    };
    auto const day = sys_days{2024y / March / 3};  // a Sunday
    for (auto [hour, bcd, binary] :
         {Case{0h, 0x12, 12}, Case{1h, 0x01, 1}, Case{11h, 0x11, 11}, Case{12h, 0x92, 0x8c},
          Case{13h, 0x81, 0x81}, Case{23h, 0x91, 0x8b}}) {
        INFO("hour " << hour.count());
        Rtc rtc;
        rtc.at(day + hour + 30min);
        rtc.set(RtcCmos::kStatusB, 0x00);
        CHECK(rtc.get(RtcCmos::kHours) == bcd);
        rtc.set(RtcCmos::kStatusB, RtcCmos::kBBinary);
        CHECK(rtc.get(RtcCmos::kHours) == binary);
        CHECK(rtc.get(RtcCmos::kWeekday) == 1);
    }
}

TEST_CASE("RTC century and year across centuries", "[devices][rtc]") {
    Rtc rtc;
    rtc.at(sys_days{1999y / December / 31} + 23h + 59min + 59s);
    CHECK(rtc.get(RtcCmos::kCentury) == 0x19);
    CHECK(rtc.get(RtcCmos::kYear) == 0x99);
    CHECK(rtc.get(RtcCmos::kMonth) == 0x12);
    CHECK(rtc.get(RtcCmos::kSeconds) == 0x59);
    rtc.at(sys_days{2100y / January / 1});
    CHECK(rtc.get(RtcCmos::kCentury) == 0x21);
    CHECK(rtc.get(RtcCmos::kYear) == 0x00);
    CHECK(rtc.get(RtcCmos::kDayOfMonth) == 0x01);
    rtc.at(sys_days{1970y / January / 1});
    CHECK(rtc.get(RtcCmos::kCentury) == 0x19);
    CHECK(rtc.get(RtcCmos::kYear) == 0x70);
    CHECK(rtc.get(RtcCmos::kWeekday) == 0x05);  // a Thursday
}

TEST_CASE("RTC UIP shows only in the 244 us before each second", "[devices][rtc]") {
    Rtc rtc;
    auto const second = sys_days{2024y / February / 29} + 13h + 45min + 7s;
    rtc.at(second + 999'755us);
    CHECK(rtc.get(RtcCmos::kStatusA) == 0x26);
    rtc.at(second + 999'756us);
    CHECK(rtc.get(RtcCmos::kStatusA) == 0xa6);
    rtc.at(second + 999'999'999ns);
    CHECK(rtc.get(RtcCmos::kStatusA) == 0xa6);
    rtc.at(second + 1s);
    CHECK(rtc.get(RtcCmos::kStatusA) == 0x26);
    // No update cycles while SET is on or the divider is held in reset.
    rtc.at(second + 999'900us);
    rtc.set(RtcCmos::kStatusB, RtcCmos::kBSet | RtcCmos::kB24Hour);
    CHECK(rtc.get(RtcCmos::kStatusA) == 0x26);
    rtc.set(RtcCmos::kStatusB, RtcCmos::kB24Hour);
    rtc.set(RtcCmos::kStatusA, 0x70 | 0x06);
    CHECK(rtc.get(RtcCmos::kStatusA) == 0x76);
    // UIP is read-only.
    rtc.at(second);
    rtc.set(RtcCmos::kStatusA, 0xa6);
    CHECK(rtc.get(RtcCmos::kStatusA) == 0x26);
}

TEST_CASE("RTC UIP clears within 244 us on the real clock", "[devices][rtc]") {
    RtcCmos rtc([] { return system_clock::now(); });
    auto const get = [&](uint8_t index) {
        rtc.write(RtcCmos::kIndexOffset, std::span<uint8_t const>(&index, 1));
        uint8_t value = 0;
        rtc.read(RtcCmos::kDataOffset, std::span<uint8_t>(&value, 1));
        return value;
    };
    auto const start = steady_clock::now();
    while (get(RtcCmos::kStatusA) & RtcCmos::kAUpdateInProgress)
        REQUIRE(steady_clock::now() - start < 100ms);
}

TEST_CASE("RTC status B keeps guest bits; SET clears UIE", "[devices][rtc]") {
    Rtc rtc;
    rtc.set(RtcCmos::kStatusB, 0x7f);
    CHECK(rtc.get(RtcCmos::kStatusB) == 0x7f);
    rtc.set(RtcCmos::kStatusB, 0xff);
    CHECK(rtc.get(RtcCmos::kStatusB) == 0xef);
}

TEST_CASE("RTC status C reports update-ended once per second and clears on read",
          "[devices][rtc]") {
    Rtc rtc;
    CHECK(rtc.get(RtcCmos::kStatusC) == 0x00);  // no update since power-on
    rtc.at(kThursday + 1s);
    CHECK(rtc.get(RtcCmos::kStatusC) == RtcCmos::kCUpdate);
    CHECK(rtc.get(RtcCmos::kStatusC) == 0x00);
    rtc.set(RtcCmos::kStatusB, RtcCmos::kB24Hour | RtcCmos::kBUpdateInterrupt);
    rtc.at(kThursday + 5s);
    CHECK(rtc.get(RtcCmos::kStatusC) == (RtcCmos::kCInterrupt | RtcCmos::kCUpdate));
    CHECK(rtc.get(RtcCmos::kStatusC) == 0x00);
    rtc.at(kThursday - 1h);  // the clock going back does not set flags
    CHECK(rtc.get(RtcCmos::kStatusC) == 0x00);
    rtc.set(RtcCmos::kStatusC, 0xff);  // read-only
    CHECK(rtc.get(RtcCmos::kStatusC) == 0x00);
}

TEST_CASE("RTC ignores guest writes to the time and to status D", "[devices][rtc]") {
    Rtc rtc;
    for (uint8_t index : {RtcCmos::kSeconds, RtcCmos::kMinutes, RtcCmos::kHours, RtcCmos::kWeekday,
                          RtcCmos::kDayOfMonth, RtcCmos::kMonth, RtcCmos::kYear, RtcCmos::kCentury,
                          RtcCmos::kStatusD})
        rtc.set(index, 0x01);
    CHECK(rtc.get(RtcCmos::kSeconds) == 0x07);
    CHECK(rtc.get(RtcCmos::kHours) == 0x13);
    CHECK(rtc.get(RtcCmos::kYear) == 0x24);
    CHECK(rtc.get(RtcCmos::kCentury) == 0x20);
    CHECK(rtc.get(RtcCmos::kStatusD) == 0x80);
}

TEST_CASE("RTC CMOS RAM: the other bytes are storage; the index is 7 bits", "[devices][rtc]") {
    Rtc rtc;
    for (unsigned index = 0x0e; index < 0x80; ++index)
        if (index != RtcCmos::kCentury)
            rtc.set(static_cast<uint8_t>(index), static_cast<uint8_t>(index ^ 0xa5));
    for (unsigned index = 0x0e; index < 0x80; ++index)
        if (index != RtcCmos::kCentury)
            CHECK(rtc.get(static_cast<uint8_t>(index)) == (index ^ 0xa5));
    // The alarm registers are plain storage too.
    for (uint8_t index : {1, 3, 5}) {
        rtc.set(index, 0x42);
        CHECK(rtc.get(index) == 0x42);
    }
    // Bit 7 of the index (the PC's NMI mask) selects nothing.
    rtc.set(0x80 | 0x10, 0x33);
    CHECK(rtc.get(0x10) == 0x33);
    CHECK(rtc.get(0x80 | RtcCmos::kSeconds) == 0x07);
    CHECK(rtc.get(0xff) == (0x7f ^ 0xa5));
    CHECK(rtc.in(RtcCmos::kIndexOffset) == 0xff);  // write-only
}

TEST_CASE("RTC survives random bytes on both ports, odd widths and offsets", "[devices][rtc]") {
    Rtc rtc;
    auto const bytes = vmm::test::random_bytes(100000, 146818);
    for (size_t i = 0; i + 1 < bytes.size(); i += 2) {
        uint64_t const offset = bytes[i] & 1;
        if (bytes[i] & 0x80)
            rtc.in(offset);
        else
            rtc.out(offset, bytes[i + 1]);
    }
    // Whatever happened, status D and the time still read sanely.
    CHECK(rtc.get(RtcCmos::kStatusD) == 0x80);
    rtc.set(RtcCmos::kStatusB, RtcCmos::kB24Hour);
    CHECK(rtc.get(RtcCmos::kHours) == 0x13);
    std::array<uint8_t, 4> wide{0xaa, 0xaa, 0xaa, 0xaa};
    rtc.device.read(RtcCmos::kDataOffset, wide);
    CHECK(wide[1] == 0);
    rtc.device.read(5, wide);
    rtc.device.write(UINT64_MAX, wide);
    rtc.device.write(0, std::span<uint8_t const>());
    rtc.device.read(1, std::span<uint8_t>());
    RtcCmos no_clock(nullptr);
    no_clock.read(1, wide);
}

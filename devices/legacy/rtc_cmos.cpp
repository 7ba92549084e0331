// SPDX-License-Identifier: Apache-2.0
// RtcCmos register model, per the Motorola MC146818A datasheet (registers 0x00-0x0D) and the
// PC convention of a century byte at 0x32.
#include "devices/legacy/rtc_cmos.h"

#include <algorithm>

namespace vmm::devices {

namespace {

namespace chrono = std::chrono;

struct Calendar {
    unsigned year, month, day, weekday, hour, minute, second;
    bool updating;  // inside the kUpdateLead window before the next second
};

Calendar calendar(chrono::system_clock::time_point now) {
    auto const days = chrono::floor<chrono::days>(now);
    chrono::year_month_day const ymd{days};
    chrono::hh_mm_ss const time{chrono::floor<chrono::seconds>(now - days)};
    auto const subsecond = now - chrono::floor<chrono::seconds>(now);
    // Years outside 0-9999 cannot be shown in two BCD bytes; clamp instead of wrapping.
    int const year = std::clamp(static_cast<int>(ymd.year()), 0, 9999);
    return Calendar{
        .year = static_cast<unsigned>(year),
        .month = static_cast<unsigned>(ymd.month()),
        .day = static_cast<unsigned>(ymd.day()),
        .weekday = chrono::weekday{days}.c_encoding() + 1,  // Sunday = 1
        .hour = static_cast<unsigned>(time.hours().count()),
        .minute = static_cast<unsigned>(time.minutes().count()),
        .second = static_cast<unsigned>(time.seconds().count()),
        .updating = subsecond >= chrono::seconds(1) - RtcCmos::kUpdateLead,
    };
}

}  // namespace

RtcCmos::RtcCmos(Clock clock)
    : m_clock(std::move(clock)),
      m_last_c_read(chrono::floor<chrono::seconds>(m_clock ? m_clock() : chrono::sys_seconds{})) {
    m_ram[kStatusA] = kADefault;
    m_ram[kStatusB] = kBDefault;
}

void RtcCmos::read(uint64_t offset, std::span<uint8_t> data) {
    // Byte registers: a wider access reads the first register and zero for the rest.
    std::ranges::fill(data, uint8_t{0});
    if (data.empty()) return;
    if (offset != kDataOffset) {
        data[0] = 0xff;  // the index register is write-only
        return;
    }
    std::lock_guard guard(m_lock);
    data[0] = read_register(m_index);
}

void RtcCmos::write(uint64_t offset, std::span<uint8_t const> data) {
    if (data.empty()) return;
    std::lock_guard guard(m_lock);
    if (offset == kIndexOffset)
        m_index = data[0] & 0x7f;  // bit 7 masks NMI on a PC; there is nothing to mask here
    else if (offset == kDataOffset)
        write_register(m_index, data[0]);
}

uint8_t RtcCmos::encode(unsigned value) const {
    value %= 100;
    if (m_ram[kStatusB] & kBBinary) return static_cast<uint8_t>(value);
    return static_cast<uint8_t>(((value / 10) << 4) | (value % 10));
}

uint8_t RtcCmos::encode_hour(unsigned hour) const {
    if (m_ram[kStatusB] & kB24Hour) return encode(hour);
    // 12-hour mode: 12, 1, ..., 11 with bit 7 set after noon.
    unsigned const twelve = hour % 12 == 0 ? 12 : hour % 12;
    return static_cast<uint8_t>(encode(twelve) | (hour >= 12 ? kHourPm : 0));
}

uint8_t RtcCmos::read_register(uint8_t index) {
    auto const now = m_clock ? m_clock() : chrono::system_clock::time_point{};
    switch (index) {
        case kSeconds: return encode(calendar(now).second);
        case kMinutes: return encode(calendar(now).minute);
        case kHours: return encode_hour(calendar(now).hour);
        case kWeekday: return encode(calendar(now).weekday);
        case kDayOfMonth: return encode(calendar(now).day);
        case kMonth: return encode(calendar(now).month);
        case kYear: return encode(calendar(now).year % 100);
        case kCentury: return encode(calendar(now).year / 100);
        case kStatusA: {
            // UIP shows only in the 244 us before an update, so a guest polling it never
            // waits longer than that; no updates run while SET is on or the divider is off.
            bool const running = (m_ram[kStatusA] & kADividerMask) == kADividerNormal &&
                                 (m_ram[kStatusB] & kBSet) == 0;
            uint8_t const uip = running && calendar(now).updating ? kAUpdateInProgress : 0;
            return static_cast<uint8_t>((m_ram[kStatusA] & ~kAUpdateInProgress) | uip);
        }
        case kStatusC: {
            // Reading C clears it. Only the update-ended flag is modelled (an update happens
            // at each second); periodic and alarm flags stay 0, and no IRQ 8 is raised.
            auto const second = chrono::floor<chrono::seconds>(now);
            uint8_t c = 0;
            if (second > m_last_c_read && (m_ram[kStatusB] & kBSet) == 0) c |= kCUpdate;
            if ((c & kCUpdate) && (m_ram[kStatusB] & kBUpdateInterrupt)) c |= kCInterrupt;
            m_last_c_read = std::max(m_last_c_read, second);
            return c;
        }
        case kStatusD: return kDValid;  // battery good; bits 0-6 read 0
        default: return m_ram[index & 0x7f];
    }
}

void RtcCmos::write_register(uint8_t index, uint8_t value) {
    switch (index) {
        // The time follows the host clock: guest writes to it (hwclock --systohc) are ignored,
        // so every guest sees the same, correct UTC time and cannot skew it.
        case kSeconds:
        case kMinutes:
        case kHours:
        case kWeekday:
        case kDayOfMonth:
        case kMonth:
        case kYear:
        case kCentury:
        case kStatusC:
        case kStatusD: return;  // C and D are read-only
        case kStatusA: m_ram[kStatusA] = value & ~kAUpdateInProgress; return;
        case kStatusB:
            // MC146818A: setting SET clears UIE.
            if (value & kBSet) value &= static_cast<uint8_t>(~kBUpdateInterrupt);
            m_ram[kStatusB] = value;
            return;
        default: m_ram[index & 0x7f] = value; return;
    }
}

}  // namespace vmm::devices
